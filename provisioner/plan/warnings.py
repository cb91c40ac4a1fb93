"""What needs a reviewer's eye, as data every rendering shows the same way.

`threshold` is also a guard: apply refuses a plan that carries it unless `--force`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.plan.model import AnyChange, FlowChange, PlanWarning
from provisioner.state.desired import DesiredState
from provisioner.state.managed import ManagedState


@dataclass(frozen=True)
class Safety:
    """When a plan deletes or replaces too much to apply without `--force`."""

    delete_threshold: float = 0.3  # share of the managed dataflows
    min_managed: int = 10  # the threshold applies from this many managed dataflows


def plan_warnings(
    changes: Sequence[AnyChange],
    desired: DesiredState | None = None,
    managed: ManagedState | None = None,
    safety: Safety | None = None,
) -> list[PlanWarning]:
    found = _destructive(changes) + _credentials(changes) + _drift(changes)
    found += _duplicates(changes)
    if desired is not None:
        found += duplicate_exports(desired)
    if managed is not None:
        found += foreign(managed)
        found += threshold(changes, managed, safety or Safety())
    return found


def _destructive(changes: Sequence[AnyChange]) -> list[PlanWarning]:
    destructive = [c for c in changes if c.destructive]
    if not destructive:
        return []
    message = f"{len(destructive)} change(s) delete or replace dataflows, connections or audiences"
    return [PlanWarning(kind="destructive", names=[c.name for c in destructive], message=message)]


def _credentials(changes: Sequence[AnyChange]) -> list[PlanWarning]:
    names = [c.name for c in changes if c.sensitive]
    if not names:
        return []
    message = f"{len(names)} account(s) get new credentials"
    return [PlanWarning(kind="credentials", names=names, message=message)]


def _drift(changes: Sequence[AnyChange]) -> list[PlanWarning]:
    names = [c.name for c in changes if c.drift]
    if not names:
        return []
    message = "changed outside provisioner, to be put back"
    return [PlanWarning(kind="drift", names=names, message=message)]


def _duplicates(changes: Sequence[AnyChange]) -> list[PlanWarning]:
    copies = [c for c in changes if c.duplicate]
    if not copies:
        return []
    names = sorted({c.name for c in copies})
    message = (
        f"{len(copies)} second cop(ies) of managed objects (two applies at once, or a lost "
        "reply) are deleted, keeping the copy in use"
    )
    return [PlanWarning(kind="duplicate", names=names, message=message)]


def duplicate_exports(desired: DesiredState) -> list[PlanWarning]:
    """Two dataflows sending overlapping audiences to one target (the same type, place and
    target params): every profile of the overlap is exported twice."""
    by_place: dict[tuple[str, ...], list[str]] = {}
    for flow in desired.flows.values():
        account = desired.accounts.get(flow.account)
        place = tuple(sorted((account.place if account else {}).items()))
        where = (
            flow.type,
            *map("=".join, place),
            *map("=".join, sorted(flow.target_params.items())),
        )
        by_place.setdefault(where, []).append(flow.name)
    found = []
    for names in by_place.values():
        overlapping = _overlapping(desired, sorted(names))
        if overlapping:
            found.append(
                PlanWarning(
                    kind="duplicate-export",
                    names=overlapping,
                    message="these dataflows export overlapping audiences to the same destination",
                )
            )
    return found


def _overlapping(desired: DesiredState, names: list[str]) -> list[str]:
    hit: set[str] = set()
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if set(desired.flows[first].audiences) & set(desired.flows[second].audiences):
                hit |= {first, second}
    return sorted(hit)


def threshold(
    changes: Sequence[AnyChange], managed: ManagedState, safety: Safety
) -> list[PlanWarning]:
    """Deleting or replacing more than the threshold's share of the dataflows this scope
    provably manages (from `minManaged` of them on), or more than the share of `minManaged`
    in any run at all, so that runs one after another cannot take a fleet apart a little
    at a time. Duplicates aside: they are copies of what stays."""
    base = len(managed.flows)
    going = sorted(
        {
            c.name
            for c in changes
            if isinstance(c, FlowChange) and c.action in ("delete", "replace") and not c.duplicate
        }
    )
    cap = math.ceil(safety.delete_threshold * safety.min_managed)
    share = base >= safety.min_managed and len(going) > safety.delete_threshold * base
    if not share and len(going) <= cap:
        return []
    limit = (
        f"more than {safety.delete_threshold:.0%}"
        if share
        else f"more than {cap} in one run ({safety.delete_threshold:.0%} of minManaged "
        f"{safety.min_managed})"
    )
    message = (
        f"{len(going)} of the {base} dataflows this project manages would be deleted "
        f"or replaced, {limit}; apply refuses without --force"
    )
    return [PlanWarning(kind="threshold", names=going, message=message)]


def foreign(managed: ManagedState) -> list[PlanWarning]:
    """Dataflows the tool cannot prove it made that share a managed name: left alone."""
    if not managed.foreign_sharing:
        return []
    names = sorted({name for name, _ in managed.foreign_sharing})
    ids = ", ".join(sorted(flow_id for _, flow_id in managed.foreign_sharing))
    message = (
        f"{len(managed.foreign_sharing)} dataflow(s) share a managed name but were not made "
        f"by provisioner ({ids}); they are left as they are. To manage one, remove or rename "
        "the manifest that has its name and run `provisioner import --flow-id ID`"
    )
    return [PlanWarning(kind="foreign", names=names, message=message)]
