"""Planning accounts (the destinations' base connections): create, update, replace.

What is compared: the type (a change is a replace), the name, the non-secret auth params
(region, namespace), the credentials through the keyed fingerprint recorded in the
account's marker (never their values), and the project the marker records (a take-over).
Only a credentials change is sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner import destinations
from provisioner.plan.content import content_digest
from provisioner.plan.model import SENSITIVE, AccountChange, FieldChange
from provisioner.plan.specs import account_spec
from provisioner.state.desired import DesiredAccount
from provisioner.state.managed import LiveFlow, ManagedState
from provisioner.state.marker import DEFAULT_PROJECT, project_of, read_marker

Resource = dict[str, Any]
NOT_RECORDED = "(not recorded: adopt)"


def plan_account(
    account: DesiredAccount, managed: ManagedState, recorded: list[FieldChange] | None = None
) -> AccountChange | None:
    """The account's change, or None when it is as the manifests say. `recorded`: the
    names its ledger must record anew (`account_ledger`)."""
    live = managed.accounts.get(account.key)
    spec = account_spec(account)
    credentials = FieldChange(path="credentials", before=None, after=SENSITIVE, sensitive=True)
    if live is None:
        return AccountChange(action="create", name=account.key, spec=spec, fields=[credentials])
    live_type = type_of(live)
    if live_type != account.type:
        return AccountChange(
            action="replace",
            name=account.key,
            **seen(live),
            spec=spec,
            sensitive=True,
            destructive=True,
            fields=[FieldChange(path="type", before=live_type, after=account.type), credentials],
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
        reason=_update_reason(account.key, managed),
    )


def _update_reason(key: str, managed: ManagedState) -> str:
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
    if recorded not in known or not recorded:
        before = SENSITIVE if recorded else NOT_RECORDED
        fields.append(
            FieldChange(path="credentials", before=before, after=SENSITIVE, sensitive=True)
        )
    if account.key in managed.taken_over or project_of(marker) != managed.project:
        before_project = project_of(marker) if marker else DEFAULT_PROJECT
        fields.append(FieldChange(path="project", before=before_project, after=managed.project))
    return fields


def type_of(live: Resource) -> str:
    found = destinations.by_spec_id(str((live.get("connectionSpec") or {}).get("id", "")))
    return found.type if found else "unknown"


def seen(live: Resource) -> dict[str, Any]:
    """The live object a change was computed against: its id, its etag (apply's If-Match)
    and a digest of its content (what a saved plan and a refused write are judged on)."""
    return {"id": live["id"], "etag": live.get("etag"), "digest": content_digest(live)}
