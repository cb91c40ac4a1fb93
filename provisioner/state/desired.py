"""Manifests turned into the desired state: accounts and dataflows, keyed by name."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import destinations
from provisioner.errors import ProvisionerError
from provisioner.fields.secrets import SecretRef
from provisioner.manifest import LoadedManifest
from provisioner.manifest.secrets import secret_boundaries
from provisioner.platform.target import ci_is_set

FINGERPRINT_KEY_VARIABLE = "PROVISIONER_FINGERPRINT_KEY"


@dataclass(frozen=True)
class DesiredAudience:
    id: str
    name: str | None = None
    description: str | None = None


@dataclass
class DesiredAccount:
    key: str
    type: str
    place: dict[str, str]  # the non-secret auth params: region, or namespace
    credentials: dict[str, SecretRef]
    base_dir: str  # where ${file:…} references are resolved from
    fingerprint: str | None = None  # None until the secrets are resolved
    legacy_fingerprint: str | None = None  # as round 1 computed it (secrets and place)
    # Named after its dataflow (no `account:` in the manifest): it follows the dataflow's
    # renames rather than moving it to a new account.
    implicit: bool = False
    ledger: dict[str, str] = field(default_factory=dict)  # flow id -> name (the marker's)
    # Fingerprints of the same credentials that a marker may hold too: the account's, under
    # the key it had before it followed its dataflow's rename (the key salts the digest).
    earlier_fingerprints: list[str] = field(default_factory=list)
    # With PROVISIONER_FINGERPRINT_KEY: the same credentials' digests made without it (by
    # the previous release, or a run without the key), recognised and then rewritten keyed.
    unkeyed_fingerprints: list[str] = field(default_factory=list)

    @property
    def spec_id(self) -> str:
        return destinations.by_type(self.type).spec_id

    @property
    def references(self) -> dict[str, str]:
        return {k: ref.reference for k, ref in self.credentials.items()}


@dataclass
class DesiredFlow:
    name: str
    description: str
    enabled: bool
    type: str
    account: str
    target_params: dict[str, str]
    audiences: dict[str, DesiredAudience]
    attributes: list[str]
    source: str = ""  # FILE:LINE of the manifest
    renamed_from: list[str] = field(default_factory=list)  # earlier names (renamedFrom)

    @property
    def spec_id(self) -> str:
        return destinations.by_type(self.type).spec_id


@dataclass
class DesiredState:
    accounts: dict[str, DesiredAccount] = field(default_factory=dict)
    flows: dict[str, DesiredFlow] = field(default_factory=dict)
    org: str = ""
    sandbox: str = ""
    key_material: str | None = None  # PROVISIONER_FINGERPRINT_KEY, when set

    def fingerprint_as(self, account: DesiredAccount, key: str) -> str | None:
        """The account's fingerprint as a marker made under another account key holds it
        (None before its secrets are resolved): salted with that key. Under
        PROVISIONER_FINGERPRINT_KEY the account key is no part of the digest, so the
        account's own fingerprint already matches a marker made with the key; the salted
        one is what a run without the key made."""
        if not all(ref.resolved for ref in account.credentials.values()):
            return None
        renamed = DesiredAccount(key, account.type, account.place, account.credentials, "")
        return fingerprint(renamed, self.org, self.sandbox, None)


def desired_state(
    manifests: Sequence[LoadedManifest],
    org: str,
    sandbox: str,
    environ: Mapping[str, str] | None = None,
) -> DesiredState:
    """The desired state; fingerprints are filled in for accounts whose secrets resolved.
    Under CI, FingerprintKeyMissing when there are some and PROVISIONER_FINGERPRINT_KEY is
    not set."""
    environ = os.environ if environ is None else environ
    key_material = environ.get(FINGERPRINT_KEY_VARIABLE) or None
    state = DesiredState(org=org, sandbox=sandbox, key_material=key_material)
    for loaded in manifests:
        account = _account(loaded)
        state.accounts.setdefault(account.key, account)
        state.flows[loaded.manifest.name] = _flow(loaded, account.key)
    resolved = [a for a in state.accounts.values() if _resolved(a)]
    if key_material is None and ci_is_set(environ) and any(a.credentials for a in resolved):
        raise FingerprintKeyMissing()
    for account in resolved:
        account.fingerprint = fingerprint(account, org, sandbox, key_material)
        account.legacy_fingerprint = fingerprint(
            account, org, sandbox, key_material, with_place=True
        )
        if key_material is not None:
            account.unkeyed_fingerprints = [
                fingerprint(account, org, sandbox, None),
                fingerprint(account, org, sandbox, None, with_place=True),
            ]
    return state


class FingerprintKeyMissing(ProvisionerError):
    """Under CI, credentials to fingerprint and no PROVISIONER_FINGERPRINT_KEY to key them."""

    def __init__(self) -> None:
        super().__init__(
            f"{FINGERPRINT_KEY_VARIABLE} is not set: under CI the credentials' fingerprints "
            "(in plan files and in the accounts' markers on the platform) must be keyed with "
            "it, or anyone who can read them can check guesses of the secrets offline; set it "
            "to the same secret string in every job that plans or applies"
        )


def _resolved(account: DesiredAccount) -> bool:
    return all(ref.resolved for ref in account.credentials.values())


def _account(loaded: LoadedManifest) -> DesiredAccount:
    destination = loaded.manifest.destination
    place = destinations.by_type(destination.type).place(destination)
    credentials = {k: ref for k, ref in destination.credentials if isinstance(ref, SecretRef)}
    return DesiredAccount(
        loaded.manifest.account_key,
        destination.type,
        place,
        credentials,
        str(loaded.file.parent),
        implicit=destination.account is None,
    )


def _flow(loaded: LoadedManifest, account_key: str) -> DesiredFlow:
    manifest = loaded.manifest
    destination = manifest.destination
    params = destinations.by_type(destination.type).target_params(destination)
    audiences = {
        a.id.lower(): DesiredAudience(a.id.lower(), a.name, a.description)
        for a in manifest.audience_objects()
    }
    where = loaded.locate("name")[0]
    return DesiredFlow(
        manifest.name,
        manifest.description,
        manifest.enabled,
        destination.type,
        account_key,
        params,
        audiences,
        list(manifest.attributes),
        str(where),
        list(getattr(manifest, "renamedFrom", None) or []),
    )


def fingerprint(
    account: DesiredAccount, org: str, sandbox: str, key: str | None, with_place: bool = False
) -> str:
    """A keyed digest of the account's credentials: a rotation shows as a change, and
    nothing that could give the secret back is stored anywhere. (Round 1 also digested the
    place, so that moving region read as new credentials; `with_place` recognises those.)

    The key is PROVISIONER_FINGERPRINT_KEY when set (required under CI: the platform and
    plan files then hold nothing an offline guess could be checked against), else a salt of
    org, sandbox and account, which makes every stored digest unique but is no secret.
    """
    secret_key = (key or f"provisioner:{org}:{sandbox}:{account.key}").encode()
    material = {k: ref.reveal() for k, ref in sorted(account.credentials.items())}
    if with_place:
        material.update(account.place)
    message = json.dumps(material, sort_keys=True).encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()[:32]


def auth_params(account: DesiredAccount) -> dict[str, str]:
    """The account's auth params with secret values: only for the request body that needs
    them, never for a plan, a log or a message."""
    params = {k: ref.reveal() for k, ref in account.credentials.items()}
    params.update(account.place)
    return params


def resolve_account_secrets(account: DesiredAccount, environ: Mapping[str, str] | None) -> None:
    """Resolve the account's secrets within what the operator allows (apply resolves them
    again from the plan's records, so it checks them again)."""
    environ = os.environ if environ is None else environ
    boundaries = secret_boundaries(environ)
    for ref in account.credentials.values():
        ref.resolve(Path(account.base_dir), environ, boundaries)
