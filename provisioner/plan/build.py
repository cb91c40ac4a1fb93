"""Desired state against managed live state: the plan. Reads nothing, writes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.plan.accounts import account_ledger, plan_account, seen, type_of
from provisioner.plan.diff import (
    FlowDiff,
    diff_flow,
    drifted,
    live_attributes,
    live_audiences,
    unattributed,
)
from provisioner.plan.identity import ConflictError, claim
from provisioner.plan.labels import with_platform_names
from provisioner.plan.leftovers import delete_change, plan_duplicates, plan_leftovers
from provisioner.plan.model import (
    AnyChange,
    AttributeChanges,
    AudienceChanges,
    FieldChange,
    FieldValue,
    FlowChange,
    LiveAttribute,
    LiveAudience,
    PatchOp,
    Plan,
    PlanTarget,
    SourceChange,
    TargetChange,
    TargetSpec,
    summarize,
)
from provisioner.plan.order import in_apply_order
from provisioner.plan.specs import flow_spec
from provisioner.plan.warnings import Safety, plan_warnings
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.state.desired import DesiredAccount, DesiredFlow, DesiredState
from provisioner.state.managed import LiveFlow, ManagedState

__all__ = ["ConflictError", "Safety", "delete_change", "make_plan"]

Resource = dict[str, Any]


@dataclass
class _Planning:
    desired: DesiredState
    managed: ManagedState
    changes: list[AnyChange] = field(default_factory=list)
    unchanged: int = 0
    replaced_accounts: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)
    # (manifest name, the dataflow it claims), by the dataflow's account id
    claimed: dict[str, list[tuple[str, LiveFlow]]] = field(default_factory=dict)
    # audience id (lower case) -> its name on the platform
    platform_names: Mapping[str, str] = field(default_factory=dict)


def make_plan(
    desired: DesiredState,
    managed: ManagedState,
    target: PlanTarget,
    prune: bool = False,
    only: Sequence[str] = (),
    safety: Safety | None = None,
    audience_names: Mapping[str, str] | None = None,
) -> Plan:
    """The plan that turns `managed` into `desired`. With `only`, the run is restricted to
    those dataflows (and what they need); `desired` already holds only them.
    `audience_names`: audience id (lower case) -> its name on the platform, shown where
    the manifests give none."""
    implicit = {
        n: f.account for n, f in desired.flows.items() if desired.accounts[f.account].implicit
    }
    claims = claim(desired.flows, managed, implicit)
    work = _Planning(desired, managed, renamed=claims.renamed)
    work.platform_names = audience_names or {}
    for name in desired.flows:
        if name in managed.flows:
            live = managed.flows[name]
            work.claimed.setdefault(live.account_id, []).append((name, live))
    if desired.flows:
        _plan_source(work)
    for key in sorted({flow.account for flow in desired.flows.values()}):
        _plan_account(work, desired.accounts[key])
    for name in sorted(desired.flows):
        _plan_flow(work, desired.flows[name])
    replaced = [c.id or "" for c in work.changes if c.type == "flow" and c.action == "replace"]
    leftovers = plan_leftovers(desired, managed, prune, set(only) or None, replaced)
    work.changes += leftovers.changes
    if not only:
        work.changes += plan_duplicates(managed)
    changes = in_apply_order(work.changes)
    return Plan(
        target=target,
        summary=summarize(changes, work.unchanged),
        changes=changes,
        prune=prune,
        only=sorted(only),
        warnings=plan_warnings(changes, desired, managed, safety),
        notes=leftovers.notes,
    )


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
    account.ledger, recorded = account_ledger(account.key, work.managed, work.claimed)
    old_key = work.managed.renamed_accounts.get(account.key)
    earlier = work.desired.fingerprint_as(account, old_key) if old_key else None
    account.earlier_fingerprints = [earlier] if earlier else []
    change = plan_account(account, work.managed, recorded)
    if change is None:
        work.unchanged += 1
        return
    if change.action == "replace":
        work.replaced_accounts.add(account.key)
    work.changes.append(change)


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


def _audience_names(
    work: _Planning, flow: DesiredFlow, changes: AudienceChanges, live: Resource | None = None
) -> dict[str, str]:
    """The names a reader sees the audiences by: the manifest's, else the live dataflow's,
    else the platform's for those the change shows."""
    names = {i: v["name"] for _, i, v in live_audiences(live) if v.get("name")} if live else {}
    names.update({i: a.name for i, a in flow.audiences.items() if a.name})
    return with_platform_names(names, changes, work.platform_names)


def _plan_new_flow(work: _Planning, flow: DesiredFlow) -> None:
    target = _new_target(work, flow)
    if target is None:
        work.unchanged += 1
    else:
        work.changes.append(target)
    audiences = AudienceChanges(add=sorted(flow.audiences))
    work.changes += [
        FlowChange(
            action="create",
            name=flow.name,
            spec=flow_spec(flow),
            source=flow.source,
            audiences=audiences,
            attributes=AttributeChanges(add=sorted(flow.attributes)),
            audience_names=_audience_names(work, flow, audiences),
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
        **seen(idle),
        fields=fields,
        source=flow.source,
        patch=[PatchOp(op="replace", path="/params", value=flow.target_params)],
        reason="left by an interrupted apply; reused",
    )


def _replace_reason(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> str:
    live_type = type_of(live.target)
    if live_type != flow.type:
        return f"the destination type changes ({live_type} to {flow.type})"
    if flow.account in work.replaced_accounts:
        return f"its account {flow.account} is replaced"
    account = work.managed.accounts.get(flow.account)
    if account is None or live.target.get("baseConnectionId") != account["id"]:
        return f"it moves to account {flow.account}"
    return ""


def _plan_replaced_flow(work: _Planning, live: LiveFlow, flow: DesiredFlow, reason: str) -> None:
    audiences = AudienceChanges(add=sorted(flow.audiences))
    for change in (
        TargetChange(
            action="replace",
            name=flow.name,
            **seen(live.target),
            source=flow.source,
            destructive=True,
            reason=reason,
            spec=TargetSpec(type=flow.type, account=flow.account, params=flow.target_params),
        ),
        FlowChange(
            action="replace",
            name=flow.name,
            **seen(live.flow),
            spec=flow_spec(flow),
            source=flow.source,
            destructive=True,
            reason=reason,
            audiences=audiences,
            attributes=AttributeChanges(add=sorted(flow.attributes)),
            audience_names=_audience_names(work, flow, audiences, live.flow),
        ),
    ):
        work.changes.append(change)


def _plan_target_update(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> None:
    fields = _param_fields(live.target, flow.target_params)
    if not fields:
        work.unchanged += 1
        return
    drift = _drifted(work, live)
    work.changes.append(
        TargetChange(
            action="update",
            name=flow.name,
            **seen(live.target),
            fields=fields,
            source=flow.source,
            drift=drift,
            unattributed=not drift and _unattributed(work, live),
            patch=[PatchOp(op="replace", path="/params", value=flow.target_params)],
        )
    )


def _plan_flow_update(work: _Planning, live: LiveFlow, flow: DesiredFlow) -> None:
    diff = diff_flow(live.flow, flow)
    if diff.empty:
        work.unchanged += 1
        return
    work.changes.append(_flow_update(work, live, flow, diff))


def _flow_update(work: _Planning, live: LiveFlow, flow: DesiredFlow, diff: FlowDiff) -> FlowChange:
    fields = [
        FieldChange(path=k, before=_field_value(b), after=_field_value(a))
        for k, (b, a) in diff.fields.items()
    ]
    fields += _audience_fields(live, diff)
    if diff.enabled:
        fields.append(FieldChange(path="enabled", before=diff.enabled[0], after=diff.enabled[1]))
    live_count = len(live_audiences(live.flow))
    removed = len(diff.audiences.removed)
    heavy = live_count > 0 and removed * 2 > live_count
    patch = [PatchOp.model_validate(op) for op in diff.patch]
    audiences = AudienceChanges(
        add=diff.audiences.added,
        remove=diff.audiences.removed,
        update=sorted(diff.audiences.changed),
    )
    drift = _drifted(work, live)
    return FlowChange(
        action="update",
        name=flow.name,
        **seen(live.flow),
        source=flow.source,
        fields=fields,
        patch=patch,
        spec=flow_spec(flow),
        enable=diff.enabled[1] if diff.enabled else None,
        audiences=audiences,
        attributes=AttributeChanges(add=diff.attributes.added, remove=diff.attributes.removed),
        audience_names=_audience_names(work, flow, audiences, live.flow),
        live_audiences=_live_audiences_patched(live.flow, patch),
        live_attributes=_live_attributes_patched(live.flow, patch),
        drift=drift,
        unattributed=not drift and _unattributed(work, live),
        destructive=heavy,
        reason=f"removes {removed} of its {live_count} audiences" if heavy else "",
    )


def _audience_fields(live: LiveFlow, diff: FlowDiff) -> list[FieldChange]:
    """`audiences.<id>.name` and `.description`, before and after, in the live array's order."""
    order = {audience_id: index for index, audience_id, _ in reversed(live_audiences(live.flow))}
    return [
        FieldChange(
            path=f"audiences.{audience_id}.{name}",
            before=_field_value(before),
            after=_field_value(after),
        )
        for audience_id in sorted(diff.audiences.changed, key=lambda k: order.get(k, 0))
        for name, (before, after) in diff.audiences.changed[audience_id].items()
    ]


def _patched_indices(patch: list[PatchOp], array: str, ops: tuple[str, ...]) -> set[int]:
    prefix = array + "/"
    return {
        int(op.path[len(prefix) :])
        for op in patch
        if op.op in ops and op.path.startswith(prefix) and op.path[len(prefix) :].isdigit()
    }


def _live_audiences_patched(flow: Resource, patch: list[PatchOp]) -> list[LiveAudience]:
    """The live selectors a reader must see to know what the patch removes or replaces."""
    wanted = _patched_indices(patch, SEGMENT_SELECTORS, ("remove", "replace"))
    return [
        LiveAudience(
            index=index,
            id=audience_id,
            name=_text(value.get("name")),
            description=_text(value.get("description")),
        )
        for index, audience_id, value in live_audiences(flow)
        if index in wanted
    ]


def _live_attributes_patched(flow: Resource, patch: list[PatchOp]) -> list[LiveAttribute]:
    wanted = _patched_indices(patch, PROFILE_SELECTORS, ("remove", "replace"))
    return [
        LiveAttribute(index=index, path=path)
        for index, path in live_attributes(flow)
        if index in wanted
    ]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _field_value(value: Any) -> FieldValue:
    """A value as a field change holds it: what the platform sent, if it is a scalar."""
    if value is None or isinstance(value, str | bool | int):
        return value
    return str(value)


def _drifted(work: _Planning, live: LiveFlow) -> bool:
    return drifted(live.flow, live.target, live.applied, work.managed.clients)


def _unattributed(work: _Planning, live: LiveFlow) -> bool:
    return unattributed(live.flow, live.target, live.applied, work.managed.clients)


def _param_fields(target: Resource, wanted: dict[str, str]) -> list[FieldChange]:
    """The params that change; when any does, also those `replace /params` drops (it keeps
    only `wanted`)."""
    params = target.get("params") or {}
    changed = [
        FieldChange(path=f"params.{k}", before=_field_value(params.get(k)), after=v)
        for k, v in wanted.items()
        if params.get(k) != v
    ]
    if not changed:
        return []
    dropped = [
        FieldChange(path=f"params.{k}", before=_field_value(v), after=None)
        for k, v in params.items()
        if k not in wanted
    ]
    return changed + dropped
