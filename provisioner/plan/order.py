"""The order apply works in, derived from the plan: the one place that decides it.

A plan lists its changes in dependency order: creates, updates and replaces first, what
others use before what uses it (the profile source, accounts, target connections, flows),
then deletes the other way round (flows, target connections, accounts, the profile source);
by name within a kind. `in_apply_order` puts them so when the plan is built.

`apply_stages` reads that list as the stages apply carries out, each a list of units (one
dataflow: its flow and target connection; one account; the profile source):

1. the profile source, once per sandbox;
2. the old flow and target of every replaced dataflow: they go before any account is made
   or changed, since the account they use may be the one replaced (the one step that the
   plan's list, one change per replace, cannot show by its order alone);
3. accounts, then 4. dataflows: each unit of a stage is independent of the others, so a
   stage may run its units concurrently (an account is made before the targets that use
   it, since accounts come first);
5. deletes: dataflows, then 6. accounts, then 7. the profile source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from provisioner.plan.model import AnyChange, Plan, ResourceType, unit_of

StageKind = Literal[
    "make source",
    "retire replaced",
    "converge accounts",
    "converge dataflows",
    "delete dataflows",
    "delete accounts",
    "delete source",
]
# What is used comes before what uses it.
_DEPENDENCY_RANK: dict[ResourceType, int] = {"source": 0, "account": 1, "target": 2, "flow": 3}
_DATAFLOW_PARTS: tuple[ResourceType, ...] = ("target", "flow")


@dataclass(frozen=True)
class Step:
    """One unit of work: the unit it is reported as, its name, and the plan's changes it
    carries out (in the order they are made)."""

    unit: str
    name: str
    changes: tuple[AnyChange, ...]


@dataclass(frozen=True)
class Stage:
    kind: StageKind
    steps: tuple[Step, ...]
    # The profile source's stages: one per sandbox, never two at once.
    one_at_a_time: bool = False


def in_apply_order(changes: Iterable[AnyChange]) -> list[AnyChange]:
    """The changes as a plan lists them: creates and updates in dependency order, then
    deletes in the reverse; by name within a kind."""
    made = [c for c in changes if c.action != "delete"]
    deleted = [c for c in changes if c.action == "delete"]
    made.sort(key=lambda c: (_DEPENDENCY_RANK[c.type], c.name))
    deleted.sort(key=lambda c: (-_DEPENDENCY_RANK[c.type], c.name))
    return made + deleted


def apply_stages(plan: Plan) -> list[Stage]:
    """The stages apply carries out `plan` in, each unit in the plan's order."""
    made = [c for c in plan.changes if c.action != "delete"]
    deleted = [c for c in plan.changes if c.action == "delete"]
    dataflows = _dataflow_names(made)
    return [
        Stage("make source", _singles(made, "source"), one_at_a_time=True),
        Stage("retire replaced", tuple(_retired(plan, name) for name in dataflows)),
        Stage("converge accounts", _singles(made, "account")),
        Stage("converge dataflows", _dataflows(made, dataflows)),
        Stage("delete dataflows", _dataflows(deleted, _dataflow_names(deleted))),
        Stage("delete accounts", _singles(deleted, "account")),
        Stage("delete source", _singles(deleted, "source"), one_at_a_time=True),
    ]


def _dataflow_names(changes: Sequence[AnyChange]) -> list[str]:
    return list(dict.fromkeys(c.name for c in changes if c.type in _DATAFLOW_PARTS))


def _singles(changes: Sequence[AnyChange], kind: ResourceType) -> tuple[Step, ...]:
    """One unit per change: an account, or the profile source."""
    return tuple(Step(unit_of(c), c.name, (c,)) for c in changes if c.type == kind)


def _dataflows(changes: Sequence[AnyChange], names: Sequence[str]) -> tuple[Step, ...]:
    """One unit per dataflow, with its changes in the plan's order."""
    return tuple(
        Step(
            f"dataflow {name}",
            name,
            tuple(c for c in changes if c.name == name and c.type in _DATAFLOW_PARTS),
        )
        for name in names
    )


def _retired(plan: Plan, name: str) -> Step:
    """What a replaced dataflow removes before its account is touched: its old flow, then
    its old target. Every dataflow has the step (most remove nothing), so a unit refused
    is reported before the accounts are."""
    replaced = (plan.flow_change(name), plan.target_change(name))
    return Step(
        f"dataflow {name}",
        name,
        tuple(c for c in replaced if c is not None and c.action == "replace" and c.id),
    )
