"""Planning accounts (the destinations' base connections): create, update, replace.

What is compared: the type (a change is a replace), the name, the non-secret auth params
(region, namespace), the credentials through the keyed fingerprint recorded in the
account's marker (never their values), and the project the marker records (a take-over).
Only a credentials change is sensitive.
"""

from __future__ import annotations

from typing import Any

from provisioner import destinations
from provisioner.plan.model import SENSITIVE, AccountChange, FieldChange
from provisioner.plan.specs import account_spec
from provisioner.state.desired import DesiredAccount
from provisioner.state.managed import ManagedState
from provisioner.state.marker import DEFAULT_PROJECT, project_of, read_marker

Resource = dict[str, Any]
NOT_RECORDED = "(not recorded: adopt)"


def plan_account(account: DesiredAccount, managed: ManagedState) -> AccountChange | None:
    """The account's change, or None when it is as the manifests say."""
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
    fields = account_fields(live, account, managed)
    if not fields:
        return None
    return AccountChange(
        action="update",
        name=account.key,
        **seen(live),
        spec=spec,
        fields=fields,
        sensitive=any(f.sensitive for f in fields),
        reason="taken over from project 'default'" if account.key in managed.taken_over else "",
    )


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
    if recorded not in (account.fingerprint, account.legacy_fingerprint) or not recorded:
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
    """The id and etag of the live object a change was computed against."""
    return {"id": live["id"], "etag": live.get("etag")}
