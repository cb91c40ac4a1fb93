"""Planning accounts (the destinations' base connections): create, update, replace.

What is compared: the type (a change is a replace), the name, the non-secret auth params
(region, namespace), the credentials through the keyed fingerprint recorded in the
account's marker (never their values) and through the references the marker records
(`ref.secretKey=${env:…}`: where each comes from), and the project the marker records (a
take-over). Credentials changes are sensitive: a value shows as `(sensitive)`, a reference
as it is written (it is no secret, and the reviewer must see where a secret comes from).

Upgrades change nothing: a marker of the previous release records no references, and is no
change for that alone (they are recorded the next time the account is written); a
fingerprint made without PROVISIONER_FINGERPRINT_KEY, once the key is set, is recognised and
rewritten keyed, one non-sensitive `fingerprint` update, never a credentials change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner import destinations
from provisioner.fields.secrets import is_reference
from provisioner.plan.content import content_digest
from provisioner.plan.model import SENSITIVE, AccountChange, FieldChange
from provisioner.plan.specs import account_spec
from provisioner.state.desired import FINGERPRINT_KEY_VARIABLE, DesiredAccount
from provisioner.state.managed import LiveFlow, ManagedState
from provisioner.state.marker import DEFAULT_PROJECT, project_of, read_marker

Resource = dict[str, Any]
NOT_RECORDED = "(not recorded: adopt)"
REFERENCE_PREFIX = "ref."  # marker fields `ref.<credential>=<reference>`
# The credentials are the same: only their digest on the platform is made anew, keyed.
FINGERPRINT_REFRESH = FieldChange(path="fingerprint", before="unkeyed", after="keyed")
REFRESH_REASON = (
    f"its credentials' fingerprint is recorded anew, keyed with {FINGERPRINT_KEY_VARIABLE}; "
    "the credentials do not change"
)


def plan_account(
    account: DesiredAccount, managed: ManagedState, recorded: list[FieldChange] | None = None
) -> AccountChange | None:
    """The account's change, or None when it is as the manifests say. `recorded`: the
    names its ledger must record anew (`account_ledger`)."""
    live = managed.accounts.get(account.key)
    spec = account_spec(account)
    credentials = reference_changes(account, {})
    if live is None:
        return AccountChange(action="create", name=account.key, spec=spec, fields=credentials)
    live_type = type_of(live)
    if live_type != account.type:
        return AccountChange(
            action="replace",
            name=account.key,
            **seen(live),
            spec=spec,
            sensitive=True,
            destructive=True,
            fields=[FieldChange(path="type", before=live_type, after=account.type), *credentials],
            reason="an account's type cannot change in place",
        )
    fields = account_fields(live, account, managed) + (recorded or [])
    if not fields:
        return None
    return AccountChange(
        action="update",
        name=account.key,
        **seen(live),
        spec=spec,
        fields=fields,
        sensitive=any(f.sensitive for f in fields),
        reason=_update_reason(account.key, managed, fields),
    )


def _update_reason(key: str, managed: ManagedState, fields: list[FieldChange]) -> str:
    if fields == [FINGERPRINT_REFRESH]:
        return REFRESH_REASON
    if key in managed.taken_over:
        return "taken over from project 'default'"
    if key in managed.renamed_accounts:
        return (
            f"its dataflow was renamed; the account follows (was {managed.renamed_accounts[key]})"
        )
    return ""


def account_ledger(
    key: str, managed: ManagedState, claimed: Mapping[str, list[tuple[str, LiveFlow]]]
) -> tuple[dict[str, str], list[FieldChange]]:
    """The ledger the account's marker holds after this plan (dataflow id -> the name the
    tool gave it), and the entries that are new: a dataflow this plan renames, or whose
    recorded name changes. Entries of dataflows that are gone, and of those the previous
    release imported, are rewritten with the marker but are no change of their own.
    `claimed`: (manifest name, dataflow) by account id."""
    live = managed.accounts.get(key)
    record = managed.account_records.get(str(live["id"])) if live is not None else None
    if live is None or record is None:
        return {}, []
    ledger = {i: name for i, name in record.ledger.items() if i in managed.all_flows}
    recorded = []
    for name, flow in sorted(claimed.get(record.id, []), key=lambda pair: pair[0]):
        if ledger.get(flow.id) == name:
            continue
        ledger[flow.id] = name
        if flow.evidence == "ledger" or (flow.name != name and flow.recorded != name):
            before = record.ledger.get(flow.id)
            path = f"dataflows.{flow.id}"
            recorded.append(FieldChange(path=path, before=before, after=name))
    return ledger, recorded


def account_fields(
    live: Resource, account: DesiredAccount, managed: ManagedState
) -> list[FieldChange]:
    params = (live.get("auth") or {}).get("params") or {}
    marker = read_marker(live) or {}
    fields = []
    if live.get("name") != account.key:
        fields.append(FieldChange(path="name", before=live.get("name"), after=account.key))
    fields += [
        FieldChange(path=f"params.{k}", before=params.get(k), after=v)
        for k, v in account.place.items()
        if params.get(k) != v
    ]
    recorded = marker.get("fingerprint")
    known = (account.fingerprint, account.legacy_fingerprint, *account.earlier_fingerprints)
    unkeyed = recorded in account.unkeyed_fingerprints and recorded not in known
    if not recorded or (recorded not in known and not unkeyed):
        before = SENSITIVE if recorded else NOT_RECORDED
        fields.append(
            FieldChange(path="credentials", before=before, after=SENSITIVE, sensitive=True)
        )
    references = recorded_references(marker)
    if references:  # the previous release recorded none: that alone is no change
        fields += reference_changes(account, references)
    if account.key in managed.taken_over or project_of(marker) != managed.project:
        before_project = project_of(marker) if marker else DEFAULT_PROJECT
        fields.append(FieldChange(path="project", before=before_project, after=managed.project))
    if unkeyed:
        fields.append(FINGERPRINT_REFRESH)
    return fields


def reference_changes(account: DesiredAccount, recorded: Mapping[str, str]) -> list[FieldChange]:
    """`credentials.<key>` for each credential whose reference is not the one `recorded`:
    the reference as `after` (never a value), sensitive so that renderers know it names
    a secret's source."""
    return [
        FieldChange(
            path=f"credentials.{key}", before=recorded.get(key), after=reference, sensitive=True
        )
        for key, reference in account.references.items()
        if recorded.get(key) != reference
    ]


def recorded_references(fields: Mapping[str, str]) -> dict[str, str]:
    """Credential -> the reference it was written from, as an account's marker records it.
    Anyone can write a description: only what reads as a reference is believed."""
    return {
        key[len(REFERENCE_PREFIX) :]: value
        for key, value in fields.items()
        if key.startswith(REFERENCE_PREFIX) and is_reference(value)
    }


def reference_fields(references: Mapping[str, str]) -> dict[str, str]:
    """The references as an account's marker records them, one field per credential."""
    return {REFERENCE_PREFIX + key: references[key] for key in sorted(references)}


def type_of(live: Resource) -> str:
    found = destinations.by_spec_id(str((live.get("connectionSpec") or {}).get("id", "")))
    return found.type if found else "unknown"


def seen(live: Resource) -> dict[str, Any]:
    """The live object a change was computed against: its id, its etag (apply's If-Match)
    and a digest of its content (what a saved plan and a refused write are judged on)."""
    return {"id": live["id"], "etag": live.get("etag"), "digest": content_digest(live)}
