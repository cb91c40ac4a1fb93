"""The plan is built once: every value is in it when it is made, and nothing changes it
afterwards, so what `plan` shows, what is saved and what `apply` carries out are one value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from provisioner.plan.build import make_plan
from provisioner.plan.destroy import destroy_plan
from provisioner.plan.model import FlowChange, PlanInput, SourceChange
from provisioner.state.desired import DesiredAudience
from tests.plan_fixtures import Live, desired, desired_flow, plan, target_of

A = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"
B = "7841ba61-23c1-4bb3-a495-00d695fe1e93"


def test_a_built_plan_refuses_every_change() -> None:
    built = plan(desired(desired_flow("orders", audiences=[A])), Live())
    change = built.changes[-1]
    assert isinstance(change, FlowChange)
    with pytest.raises(ValidationError, match="frozen"):
        change.action = "delete"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        built.inputs = []  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        built.target.environment = "staging"  # type: ignore[misc]
    assert change.spec is not None
    with pytest.raises(ValidationError, match="frozen"):
        change.spec.enabled = False  # type: ignore[misc]


def test_inputs_make_a_new_plan_and_leave_the_first_as_it_was() -> None:
    built = plan(desired(desired_flow("orders")), Live())
    inputs = [PlanInput(manifest="orders.yaml", dataflows=["orders"], accounts=["a"])]
    given = built.with_inputs(inputs)
    assert given.inputs == inputs and built.inputs == []
    assert given.changes == built.changes


def test_the_platform_names_audiences_the_manifest_leaves_unnamed_as_the_plan_is_built() -> None:
    wanted = desired(desired_flow("orders", audiences=[A, B]))
    wanted.flows["orders"].audiences[B] = DesiredAudience(B, "Gold")
    managed = Live().managed()
    built = make_plan(
        wanted, managed, target_of(), audience_names={A: "Men over 50", B: "Gold members"}
    )
    change = built.flow_change("orders")
    assert change is not None
    assert change.audience_names == {B: "Gold", A: "Men over 50"}


def test_platform_names_are_matched_whatever_the_case_of_the_id() -> None:
    wanted = desired(desired_flow("orders", audiences=[A.upper()]))
    built = make_plan(wanted, Live().managed(), target_of(), audience_names={A: "Men over 50"})
    change = built.flow_change("orders")
    assert change is not None and change.audience_names == {A.upper(): "Men over 50"}


def test_a_duplicate_is_planned_whole_as_a_duplicate_that_destroys_nothing() -> None:
    live = Live()
    kept, _ = live.chain("orders")
    copy, copy_target = live.chain("orders")
    built = plan(desired(desired_flow("orders")), live)
    copies = {(c.type, c.id): c for c in built.changes if c.duplicate}
    assert set(copies) == {("flow", copy["id"]), ("target", copy_target["id"])}
    assert all(c.action == "delete" and not c.destructive for c in copies.values())
    assert copies[("flow", copy["id"])].reason == f"a duplicate of {kept['id']}, which stays"


def test_a_destroyed_profile_source_names_the_base_it_removes() -> None:
    live = Live()
    live.chain("orders")
    live.state.sources["source-1"]["baseConnectionId"] = "profile-base"
    built = destroy_plan({"orders": desired_flow("orders")}, live.managed(), target_of())
    source = next(c for c in built.changes if isinstance(c, SourceChange))
    assert source.action == "delete" and source.base_id == "profile-base"
