"""Manifests turned into the desired state: accounts and dataflows, keyed by name."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.manifest import KinesisDestination, LoadedManifest
from provisioner.manifest.secrets import SecretRef
from provisioner.platform.ids import (
    EVENT_HUBS_AUTH_SPEC,
    EVENT_HUBS_SPEC_ID,
    KINESIS_AUTH_SPEC,
    KINESIS_SPEC_ID,
)

FINGERPRINT_KEY_VARIABLE = "PROVISIONER_FINGERPRINT_KEY"
SPEC_IDS = {"amazon-kinesis": KINESIS_SPEC_ID, "azure-event-hubs": EVENT_HUBS_SPEC_ID}
TYPES_BY_SPEC = {v: k for k, v in SPEC_IDS.items()}
AUTH_SPECS = {"amazon-kinesis": KINESIS_AUTH_SPEC, "azure-event-hubs": EVENT_HUBS_AUTH_SPEC}


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

    @property
    def spec_id(self) -> str:
        return SPEC_IDS[self.type]

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

    @property
    def spec_id(self) -> str:
        return SPEC_IDS[self.type]


@dataclass
class DesiredState:
    accounts: dict[str, DesiredAccount] = field(default_factory=dict)
    flows: dict[str, DesiredFlow] = field(default_factory=dict)


def desired_state(
    manifests: Sequence[LoadedManifest],
    org: str,
    sandbox: str,
    environ: Mapping[str, str] | None = None,
) -> DesiredState:
    """The desired state; fingerprints are filled in for accounts whose secrets resolved."""
    state = DesiredState()
    for loaded in manifests:
        account = _account(loaded)
        state.accounts.setdefault(account.key, account)
        state.flows[loaded.manifest.name] = _flow(loaded, account.key)
    key_material = (environ if environ is not None else os.environ).get(FINGERPRINT_KEY_VARIABLE)
    for account in state.accounts.values():
        if all(ref.resolved for ref in account.credentials.values()):
            account.fingerprint = fingerprint(account, org, sandbox, key_material)
    return state


def _account(loaded: LoadedManifest) -> DesiredAccount:
    destination = loaded.manifest.destination
    if isinstance(destination, KinesisDestination):
        place = {"region": destination.region}
    else:
        place = {"namespace": destination.namespace}
    credentials = {k: ref for k, ref in destination.credentials if isinstance(ref, SecretRef)}
    return DesiredAccount(
        loaded.manifest.account_key, destination.type, place, credentials, str(loaded.file.parent)
    )


def _flow(loaded: LoadedManifest, account_key: str) -> DesiredFlow:
    manifest = loaded.manifest
    destination = manifest.destination
    if isinstance(destination, KinesisDestination):
        params = {"stream": destination.stream, "region": destination.region}
    else:
        params = {"eventHubName": destination.eventHub}
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
    )


def fingerprint(account: DesiredAccount, org: str, sandbox: str, key: str | None) -> str:
    """A keyed digest of the account's credentials and place: a rotation shows as a change,
    and nothing that could give the secret back is stored anywhere.

    The key is PROVISIONER_FINGERPRINT_KEY when set (recommended: the platform then holds
    nothing an offline guess could be checked against), else a salt of org, sandbox and
    account, which still makes every stored digest unique.
    """
    secret_key = (key or f"provisioner:{org}:{sandbox}:{account.key}").encode()
    material = {k: ref.reveal() for k, ref in sorted(account.credentials.items())}
    material.update(account.place)
    message = json.dumps(material, sort_keys=True).encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()[:32]


def flow_from_spec(name: str, spec: dict[str, Any], source: str = "") -> DesiredFlow:
    """A dataflow as a plan recorded it (a saved plan carries no manifest)."""
    audiences = {
        a["id"]: DesiredAudience(a["id"], a.get("name"), a.get("description"))
        for a in spec["audiences"]
    }
    return DesiredFlow(
        name,
        spec["description"],
        spec["enabled"],
        spec["type"],
        spec["account"],
        dict(spec["target_params"]),
        audiences,
        list(spec["attributes"]),
        source,
    )


def account_from_spec(key: str, spec: dict[str, Any]) -> DesiredAccount:
    """An account as a plan recorded it: secrets as references, to be resolved again."""
    credentials = {k: SecretRef.parse(ref) for k, ref in spec["credentials"].items()}
    return DesiredAccount(
        key,
        spec["type"],
        dict(spec["place"]),
        credentials,
        spec["base_dir"],
        spec.get("fingerprint"),
    )


def auth_params(account: DesiredAccount) -> dict[str, str]:
    """The account's auth params with secret values: only for the request body that needs
    them, never for a plan, a log or a message."""
    params = {k: ref.reveal() for k, ref in account.credentials.items()}
    params.update(account.place)
    return params


def resolve_account_secrets(account: DesiredAccount, environ: Mapping[str, str] | None) -> None:
    for ref in account.credentials.values():
        ref.resolve(Path(account.base_dir), dict(environ) if environ is not None else None)
