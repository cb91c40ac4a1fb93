"""Desired state against managed live state: the plan. Reads nothing, writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner import destinations
from provisioner.errors import ProvisionerError
from provisioner.plan.diff import FlowDiff, diff_flow, digest_of, live_audiences
from provisioner.plan.model import (
    SENSITIVE,
    AccountChange,
    AnyChange,
    AttributeChanges,
    AudienceChanges,
    FieldChange,
    FlowChange,
    PatchOp,
    Plan,
    PlanTarget,
    PlanWarning,
    ResourceType,
    SourceChange,
    TargetChange,
    TargetSpec,
    summarize,
)
from provisioner.plan.specs import account_spec, flow_spec
from provisioner.state.desired import DesiredAccount, DesiredFlow, DesiredState
from provisioner.state.live import LiveFlow, ManagedState
from provisioner.state.marker import read_marker

Resource = dict[str, Any]


class ConflictError(ProvisionerError):
    """A manifest names a dataflow that exists but is not the tool's."""


@dataclass
class _Planning:
    desired: DesiredState
    managed: ManagedState
    changes: list[AnyChange] = field(default_factory=list)
    unchanged: int = 0
    replaced_accounts: set[str] = field(default_factory=set)


def make_plan(
    desired: DesiredState, managed: ManagedState, target: PlanTarget, prune: bool = False
) -> Plan:
    _refuse_foreign_names(desired, managed)
    work = _Planning(desired, managed)
    if desired.flows:
        _plan_source(work)
    for key in sorted(_accounts_in_use(desired)):
        _plan_account(work, desired.accounts[key])
    for name in sorted(desired.flows):
        _plan_flow(work, desired.flows[name])
    notes = _plan_leftovers(work, prune) + _duplicate_notes(managed)
    order = {"source": 0, "account": 1, "target": 2, "flow": 3}
    creates = [c for c in work.changes if c.action != "delete"]
    deletes = [c for c in work.changes if c.action == "delete"]
    creates.sort(key=lambda c: (order[c.type], c.name))
    deletes.sort(key=lambda c: (-order[c.type], c.name))
    changes = creates + deletes
    return Plan(
        target=target,
        summary=summarize(changes, work.unchanged),
        changes=changes,
        prune=prune,
        warnings=plan_warnings(changes),
        notes=notes,
    )


def _refuse_foreign_names(desired: DesiredState, managed: ManagedState) -> None:
    clashes = [
        f"dataflow '{name}' ({flow.source}) already exists on the platform as {found['id']}, "
        "but provisioner did not create it: bring it under management with "
        f"`provisioner import --flow-id {found['id']}`, or choose another name"
        for name, flow in sorted(desired.flows.items())
        if name not in managed.flows and (found := managed.foreign_flows.get(name)) is not None
    ]
    if clashes:
        raise ConflictError("\n".join(clashes))


def _accounts_in_use(desired: DesiredState) -> set[str]:
    return {flow.account for flow in desired.flows.values()}


def _plan_source(work: _Planning) -> None:
    if work.managed.profile_source is not None:
        work.unchanged += 1
        return
    work.changes.append(
        SourceChange(
            action="create",
            name="profile",
            reuse_base=(work.managed.profile_base or {}).get("id"),
        )
    )


def _plan_account(work: _Planning, account: DesiredAccount) -> None:
    live = work.managed.accounts.get(account.key)
    spec = account_spec(account)
    credentials = FieldChange(path="credentials", before=None, after=SENSITIVE, sensitive=True)
    if live is None:
        work.changes.append(
            AccountChange(action="create", name=account.key, spec=spec, fields=[credentials])
        )
        return
    live_type = _type_of(live)
    if live_type != account.type:
        work.replaced_accounts.add(account.key)
        work.changes.append(
            AccountChange(
                action="replace",
                name=account.key,
                **_seen(live),
                spec=spec,
                sensitive=True,
                destructive=True,
                fields=[
                    FieldChange(path="type", before=live_type, after=account.type),
                    credentials,
                ],
                reason="an account's type cannot change in place",
            )
        )
        return
    fields = _account_fields(live, account)
    if not fields:
        work.unchanged += 1
        return
    work.changes.append(
        AccountChange(
            action="update",
            name=account.key,
            **_seen(live),
            spec=spec,
            fields=fields,
            sensitive=True,
        )
    )


def _account_fields(live: Resource, account: DesiredAccount) -> list[FieldChange]:
    params = (live.get("auth") or {}).get("params") or {}
    fields = [
        FieldChange(path=k, before=params.get(k), after=v)
        for k, v in account.place.items()
        if params.get(k) != v
    ]
    recorded = (read_marker(live) or {}).get("fingerprint")
    if recorded != account.fingerprint:
        before = SENSITIVE if recorded else "(not recorded: adopt)"
        fields.append(
            FieldChange(path="credentials", before=before, after=SENSITIVE, sensitive=True)
        )
    return fields


def _plan_flow(work: _Planning, flow: DesiredFlow) -> None:
    live = work.managed.flows.get(flow.name)
    if live is None:
        _plan_new_flow(work, flow)
        return
    reason = _replace_reason(work, live, flow)
    if reason:
        _plan_replaced_flow(work, live, flow, reason)
        return
    _plan_target_update(work, live, flow)
    _plan_flow_update(work, live, flow)


def _audience_names(flow: DesiredFlow, live: Resource | None = None) -> dict[str, str]:
    names = {i: v["name"] for _, i, v in live_audiences(live) if v.get("name")} if live else {}
    names.update({i: a.name for i, a in flow.audiences.items() if a.name})
    return names


def _plan_new_flow(work: _Planning, flow: DesiredFlow) -> None:
    target = _new_target(work, flow)
    if target is None:
        work.unchanged += 1
    else:
        work.changes.append(target)
    work.changes += [
        FlowChange(
            action="create",
            name=flow.name,
            spec=flow_spec(flow),
            source=flow.source,
            audiences=AudienceChanges(add=sorted(flow.audiences)),
            attributes=AttributeChanges(add=sorted(flow.attributes)),
            audience_names=_audience_names(flow),
        )
    ]


def _new_target(work: _Planning, flow: DesiredFlow) -> TargetChange | None:
    """The target for a new dataflow: created, or one an interrupted apply left, reused
    (updated if its params differ; None when it is reused as it is)."""
    spec = TargetSpec(type=flow.type, account=flow.account, params=flow.target_params)
    idle = work.managed.idle_targets.get(flow.name)
    account = work.managed.accounts.get(flow.account)
    reusable = (
        idle is not None
        and account is not None
        and idle.get("baseConnectionId") == account["id"]
        and idle["connectionSpec"]["id"] == flow.spec_id
    )
    if not reusable or idle is None:
        return TargetChange(action="create", name=flow.name, source=flow.source, spec=spec)
    fields = _param_fields(idle, flow.target_params)
    if not fields:
        return None
    return TargetChange(
        action="update",
        name=flow.name,
        **_seen(idle),
        fields=fields,
        source=flow.source,
        patch=[PatchOp(op="replace", path="/params", value=flow.target_params)],
        reason="left by an interrupted apply; reused",
    )


def _replace_reason(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> str:
    live_type = _type_of(live.target)
    if live_type != flow.type:
        return f"the destination type changes ({live_type} to {flow.type})"
    if flow.account in work.replaced_accounts:
        return f"its account {flow.account} is replaced"
    account = work.managed.accounts.get(flow.account)
    if account is None or live.target.get("baseConnectionId") != account["id"]:
        return f"it moves to account {flow.account}"
    return ""


def _plan_replaced_flow(work: _Planning, live: LiveFlow, flow: DesiredFlow, reason: str) -> None:
    for change in (
        TargetChange(
            action="replace",
            name=flow.name,
            **_seen(live.target),
            source=flow.source,
            destructive=True,
            reason=reason,
            spec=TargetSpec(type=flow.type, account=flow.account, params=flow.target_params),
        ),
        FlowChange(
            action="replace",
            name=flow.name,
            **_seen(live.flow),
            spec=flow_spec(flow),
            source=flow.source,
            destructive=True,
            reason=reason,
            audiences=AudienceChanges(add=sorted(flow.audiences)),
            attributes=AttributeChanges(add=sorted(flow.attributes)),
            audience_names=_audience_names(flow, live.flow),
        ),
    ):
        work.changes.append(change)


def _plan_target_update(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> None:
    fields = _param_fields(live.target, flow.target_params)
    if not fields:
        work.unchanged += 1
        return
    work.changes.append(
        TargetChange(
            action="update",
            name=flow.name,
            **_seen(live.target),
            fields=fields,
            source=flow.source,
            drift=_drifted(live),
            patch=[PatchOp(op="replace", path="/params", value=flow.target_params)],
        )
    )


def _plan_flow_update(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> None:
    diff = diff_flow(live.flow, flow)
    if diff.empty:
        work.unchanged += 1
        return
    work.changes.append(_flow_update(live, flow, diff))


def _flow_update(live: LiveFlow, flow: DesiredFlow, diff: FlowDiff) -> FlowChange:
    fields = [FieldChange(path=k, before=b, after=a) for k, (b, a) in diff.fields.items()]
    if diff.enabled:
        fields.append(FieldChange(path="enabled", before=diff.enabled[0], after=diff.enabled[1]))
    live_count = len(live_audiences(live.flow))
    removed = len(diff.audiences.removed)
    heavy = live_count > 0 and removed * 2 > live_count
    return FlowChange(
        action="update",
        name=flow.name,
        **_seen(live.flow),
        source=flow.source,
        fields=fields,
        patch=[PatchOp.model_validate(op) for op in diff.patch],
        spec=flow_spec(flow),
        enable=diff.enabled[1] if diff.enabled else None,
        audiences=AudienceChanges(
            add=diff.audiences.added,
            remove=diff.audiences.removed,
            update=sorted(diff.audiences.changed),
        ),
        attributes=AttributeChanges(add=diff.attributes.added, remove=diff.attributes.removed),
        audience_names=_audience_names(flow, live.flow),
        drift=_drifted(live),
        destructive=heavy,
        reason=f"removes {removed} of its {live_count} audiences" if heavy else "",
    )


def _drifted(live: LiveFlow) -> bool:
    return bool(live.applied) and live.applied != digest_of(live.flow, live.target)


def _plan_leftovers(work: _Planning, prune: bool) -> list[str]:
    """Managed dataflows that no manifest names: deleted with --prune, noted otherwise."""
    extra = sorted(set(work.managed.flows) - set(work.desired.flows))
    if not prune:
        if not extra:
            return []
        return [
            f"{len(extra)} dataflow(s) managed by provisioner are in no given manifest "
            f"({', '.join(extra)}); --prune deletes them"
        ]
    kept_accounts = _accounts_in_use(work.desired)
    for key in extra:
        live = work.managed.flows[key]
        work.changes.append(delete_change("flow", key, live.flow))
        work.changes.append(delete_change("target", key, live.target))
    still_used = kept_accounts | {
        _account_key(work.managed, f.target)
        for k, f in work.managed.flows.items()
        if k not in extra
    }
    for key, account in sorted(work.managed.accounts.items()):
        if key not in still_used:
            work.changes.append(delete_change("account", key, account))
    return []


def _duplicate_notes(managed: ManagedState) -> list[str]:
    if not managed.duplicates:
        return []
    ids = ", ".join(r["id"] for r in managed.duplicates)
    return [
        f"{len(managed.duplicates)} more object(s) carry the marker of one that is already "
        f"managed and are left alone: {ids}"
    ]


def _account_key(managed: ManagedState, target: Resource) -> str:
    for key, account in managed.accounts.items():
        if account["id"] == target.get("baseConnectionId"):
            return key
    return ""


def _param_fields(target: Resource, wanted: dict[str, str]) -> list[FieldChange]:
    params = target.get("params") or {}
    return [
        FieldChange(path=f"params.{k}", before=params.get(k), after=v)
        for k, v in wanted.items()
        if params.get(k) != v
    ]


def _seen(live: Resource) -> dict[str, Any]:
    """The id and etag of the live object a change was computed against."""
    return {"id": live["id"], "etag": live.get("etag")}


_KINDS: dict[ResourceType, type[AnyChange]] = {
    "flow": FlowChange,
    "target": TargetChange,
    "account": AccountChange,
    "source": SourceChange,
}


def delete_change(
    kind: ResourceType,
    name: str,
    resource: Resource,
    reason: str = "no manifest names it (--prune)",
) -> AnyChange:
    return _KINDS[kind](
        action="delete",
        name=name,
        **_seen(resource),
        destructive=kind == "flow",
        reason=reason,
    )


def _type_of(live: Resource) -> str:
    found = destinations.by_spec_id(str((live.get("connectionSpec") or {}).get("id", "")))
    return found.type if found else "unknown"


def plan_warnings(changes: list[AnyChange]) -> list[PlanWarning]:
    """The banners every rendering shows, as data: what needs a reviewer's eye."""
    found = []
    destructive = [c for c in changes if c.destructive]
    if destructive:
        found.append(
            PlanWarning(
                kind="destructive",
                names=[c.name for c in destructive],
                message=f"{len(destructive)} change(s) delete or replace dataflows, "
                "connections or audiences",
            )
        )
    sensitive = [c.name for c in changes if c.sensitive]
    if sensitive:
        found.append(
            PlanWarning(
                kind="credentials",
                names=sensitive,
                message=f"{len(sensitive)} account(s) get new credentials",
            )
        )
    drifted = [c.name for c in changes if c.drift]
    if drifted:
        found.append(
            PlanWarning(
                kind="drift", names=drifted, message="changed outside provisioner, to be put back"
            )
        )
    return found
