"""What the project manages that no manifest asks for: pruned, noted, or a duplicate.

- Dataflows this scope provably manages that no given manifest claims: deleted with
  `--prune`, noted otherwise.
- Accounts no dataflow of the sandbox (whoever made it) will use any more: deleted with
  `--prune`, noted otherwise.
- Duplicates (second copies of one key, however made): always deleted, keeping the copy
  the rest refers to. They are not what a manifest asked for, so they do not count
  toward the delete threshold.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from provisioner.plan.accounts import seen
from provisioner.plan.model import (
    AccountChange,
    AnyChange,
    FlowChange,
    ResourceType,
    SourceChange,
    TargetChange,
)
from provisioner.state.desired import DesiredState
from provisioner.state.managed import Duplicate, ManagedState

Resource = dict[str, Any]
PRUNE_REASON = "no manifest names it (--prune)"
DUPLICATE_REASON = "a duplicate of {kept}, which stays"

_KINDS: dict[ResourceType, type[AnyChange]] = {
    "flow": FlowChange,
    "target": TargetChange,
    "account": AccountChange,
}


@dataclass
class Leftovers:
    changes: list[AnyChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def delete_change(
    kind: ResourceType,
    name: str,
    resource: Resource,
    reason: str = PRUNE_REASON,
    duplicate: bool = False,
    base_id: str | None = None,
) -> AnyChange:
    """The delete of a live object, whole. A duplicate's delete is never destructive:
    nothing asked for goes, only a copy of what stays. `base_id`: the profile base a
    profile source's delete also removes."""
    common: dict[str, Any] = {
        "action": "delete",
        "name": name,
        **seen(resource),
        "destructive": kind == "flow" and not duplicate,
        "duplicate": duplicate,
        "reason": reason,
    }
    if kind == "source":
        return SourceChange(**common, base_id=base_id)
    return _KINDS[kind](**common)


def plan_leftovers(
    desired: DesiredState,
    managed: ManagedState,
    prune: bool,
    only: set[str] | None = None,
    replaced: Collection[str] = (),
) -> Leftovers:
    """`replaced`: the ids of dataflows the plan replaces (their old copies are deleted)."""
    found = Leftovers()
    extra = sorted(
        k
        for k, f in managed.flows.items()
        if k not in desired.flows and (only is None or k in only or f.name in only)
    )
    idle = sorted(
        k for k in managed.idle_targets if k not in desired.flows and (only is None or k in only)
    )
    if prune:
        for key in extra:
            found.changes.append(delete_change("flow", key, managed.flows[key].flow))
            found.changes.append(delete_change("target", key, managed.flows[key].target))
        for key in idle:
            found.changes.append(delete_change("target", key, managed.idle_targets[key]))
    elif extra:
        found.notes.append(
            f"{len(extra)} dataflow(s) managed by provisioner are in no given manifest "
            f"({', '.join(extra)}); --prune deletes them"
        )
    gone = ({managed.flows[k].id for k in extra} if prune else set()) | set(replaced)
    kept_idle = [t for k, t in managed.idle_targets.items() if not (prune and k in idle)]
    _unused_accounts(desired, managed, prune, gone, kept_idle, found)
    return found


def _unused_accounts(
    desired: DesiredState,
    managed: ManagedState,
    prune: bool,
    gone: set[str],
    kept_idle: list[Resource],
    found: Leftovers,
) -> None:
    """Accounts no manifest wants and no dataflow of the sandbox uses (after this plan's
    deletes), nor a target connection the tool keeps."""
    held = {str(t.get("baseConnectionId")) for t in kept_idle}
    wanted = {f.account for f in desired.flows.values()}
    unused = sorted(
        key
        for key, account in managed.accounts.items()
        if key not in wanted
        and str(account["id"]) not in held
        and not managed.in_use(str(account["id"]), gone)
    )
    if prune:
        found.changes += [delete_change("account", k, managed.accounts[k]) for k in unused]
    elif unused:
        found.notes.append(
            f"{len(unused)} account(s) managed by provisioner are used by no dataflow any "
            f"more ({', '.join(unused)}); --prune deletes them"
        )


def _spare_base(managed: ManagedState, source: Resource) -> str | None:
    base = source.get("baseConnectionId")
    kept = (managed.profile_source or {}).get("baseConnectionId")
    return str(base) if base and base != kept else None


def plan_duplicates(managed: ManagedState) -> list[AnyChange]:
    """Deletes of every duplicate: flows first, then targets, then accounts."""
    return [_duplicate_delete(managed, duplicate) for duplicate in managed.duplicates]


def _duplicate_delete(managed: ManagedState, duplicate: Duplicate) -> AnyChange:
    # A duplicate profile source takes its own base with it, if no one shares it.
    spare = _spare_base(managed, duplicate.resource) if duplicate.kind == "source" else None
    return delete_change(
        duplicate.kind,
        duplicate.key,
        duplicate.resource,
        DUPLICATE_REASON.format(kept=duplicate.kept),
        duplicate=True,
        base_id=spare,
    )
