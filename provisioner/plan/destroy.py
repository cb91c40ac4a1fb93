"""`destroy`: a plan of deletes for the dataflows some manifests name, and what only they use."""

from __future__ import annotations

from collections.abc import Iterable

from provisioner.plan.build import delete_change
from provisioner.plan.model import AnyChange, Plan, PlanTarget, SourceChange, summarize
from provisioner.state.managed import ManagedState
from provisioner.state.marker import read_marker

REASON = "destroy"


def destroy_plan(names: Iterable[str], managed: ManagedState, target: PlanTarget) -> Plan:
    doomed = sorted(set(names) & (set(managed.flows) | set(managed.idle_targets)))
    changes: list[AnyChange] = []
    for name in doomed:
        live = managed.flows.get(name)
        if live is not None:
            changes.append(delete_change("flow", name, live.flow, REASON))
        connection = live.target if live else managed.idle_targets[name]
        changes.append(delete_change("target", name, connection, REASON))
    remaining = {k: f for k, f in managed.flows.items() if k not in doomed}
    used = {f.target.get("baseConnectionId") for f in remaining.values()}
    used |= {t.get("baseConnectionId") for k, t in managed.idle_targets.items() if k not in doomed}
    released = {f.target.get("baseConnectionId") for k, f in managed.flows.items() if k in doomed}
    for key, account in sorted(managed.accounts.items()):
        if account["id"] in released and account["id"] not in used:
            changes.append(delete_change("account", key, account, REASON))
    made_by_us = "profile" in (read_marker(managed.profile_source or {}) or {})
    if not remaining and doomed and managed.profile_source is not None and made_by_us:
        source = managed.profile_source
        change = delete_change("source", "profile", source, REASON)
        assert isinstance(change, SourceChange)
        change.base_id = source.get("baseConnectionId")
        changes.append(change)
    unchanged = len(managed.flows) - len([n for n in doomed if n in managed.flows])
    return Plan(target=target, summary=summarize(changes, unchanged), changes=changes)
