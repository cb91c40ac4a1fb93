"""`destroy`: a plan of deletes for what the given manifests manage, and what only they use.

What the manifests manage is what `plan` would say: the same claims (`plan/identity.py`),
so a renamed dataflow, or one renamed in the UI, is found as plan finds it, with the copies
the tool made of it. A connection (an account, the profile source) is deleted only when
no dataflow of the sandbox uses it once these are gone, whoever made that dataflow; what is
kept is said, with why.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.plan.identity import Claimant, claim
from provisioner.plan.leftovers import delete_change
from provisioner.plan.model import AnyChange, Plan, PlanTarget, summarize
from provisioner.state.managed import ManagedState
from provisioner.state.marker import read_marker

REASON = "destroy"


def destroy_plan(
    manifests: Mapping[str, Claimant], managed: ManagedState, target: PlanTarget
) -> Plan:
    claim(manifests, managed, check=False)
    doomed = sorted(n for n in manifests if n in managed.flows)
    changes: list[AnyChange] = []
    for name in doomed:
        live = managed.flows[name]
        changes += [
            delete_change("flow", name, live.flow, REASON),
            delete_change("target", name, live.target, REASON),
        ]
    copies = [d for d in managed.duplicates if d.key in doomed and d.kind in ("flow", "target")]
    changes += [delete_change(d.kind, d.key, d.resource, REASON) for d in copies]
    idle = sorted(n for n in manifests if n in managed.idle_targets and n not in doomed)
    changes += [delete_change("target", n, managed.idle_targets[n], REASON) for n in idle]
    gone = {managed.flows[n].id for n in doomed} | {
        str(d.resource["id"]) for d in copies if d.kind == "flow"
    }
    released = {str(c.id) for c in changes if c.type == "target"}
    notes: list[str] = []
    changes += _accounts(managed, gone, released, notes)
    if doomed:
        changes += _profile_source(managed, gone, notes)
    unchanged = len(managed.flows) - len(doomed)
    return Plan(target=target, summary=summarize(changes, unchanged), changes=changes, notes=notes)


def _accounts(
    managed: ManagedState, gone: set[str], released_targets: set[str], notes: list[str]
) -> list[AnyChange]:
    """The accounts the deleted targets used, when nothing else uses them."""
    targets = [t for t in managed.all_targets.values() if str(t["id"]) in released_targets]
    targets += [t for t in managed.idle_targets.values() if str(t["id"]) in released_targets]
    released = {str(t.get("baseConnectionId")) for t in targets}
    held = {
        str(t.get("baseConnectionId"))
        for t in managed.idle_targets.values()
        if str(t["id"]) not in released_targets
    }
    changes: list[AnyChange] = []
    for key, account in sorted(managed.accounts.items()):
        account_id = str(account["id"])
        if account_id not in released:
            continue
        users = managed.in_use(account_id, gone)
        if users or account_id in held:
            notes.append(_kept(f"account {key}", users or ["a target connection of its own"]))
            continue
        changes.append(delete_change("account", key, account, REASON))
    return changes


def _profile_source(managed: ManagedState, gone: set[str], notes: list[str]) -> list[AnyChange]:
    source = managed.profile_source
    if source is None or "profile" not in (read_marker(source) or {}):
        return []  # not the tool's to delete
    users = managed.in_use(str(source["id"]), gone)
    if users:
        notes.append(_kept("the profile source connection", users))
        return []
    base = source.get("baseConnectionId")
    spare = str(base) if base and not managed.in_use(str(base), gone) else None
    return [delete_change("source", "profile", source, REASON, base_id=spare)]


def _kept(what: str, users: list[str]) -> str:
    shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
    return f"kept {what}: {len(users)} other dataflow(s) of the sandbox use it ({shown})"
