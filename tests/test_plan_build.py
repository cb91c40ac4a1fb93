"""Plan building in-process, table by table: desired state against live objects built by
hand, through `managed_state` as a real read would go. No HTTP."""

from __future__ import annotations

import pytest

from provisioner.plan.build import ConflictError, Safety
from provisioner.plan.model import FlowChange
from tests.plan_fixtures import (
    EVENT_HUBS,
    KINESIS,
    Live,
    account_resource,
    actions,
    change,
    desired,
    desired_flow,
    plan,
)
from tests.workspace import AUDIENCES

A, B, C, D, E, F = AUDIENCES


def test_nothing_to_do_when_live_is_as_desired() -> None:
    live = Live()
    live.chain("orders", audiences=[A, B], attributes=["a.b"])
    found = plan(desired(desired_flow("orders", audiences=[B, A], attributes=["a.b"])), live)
    assert actions(found) == []
    assert found.summary.unchanged == 4  # source, account, target, flow
    assert found.warnings == [] and found.notes == []


def test_a_new_dataflow_creates_its_chain_in_order() -> None:
    empty = Live()
    empty.state.sources.clear()
    found = plan(desired(desired_flow("orders", audiences=[A])), empty)
    assert actions(found) == [
        ("create", "source", "profile"),
        ("create", "account", "orders-account"),
        ("create", "target", "orders"),
        ("create", "flow", "orders"),
    ]
    flow = change(found, "flow", "orders")
    assert isinstance(flow, FlowChange) and flow.audiences is not None
    assert flow.audiences.add == [A]


# replace reasons ----------------------------------------------------------------------


def test_a_type_change_replaces_flow_and_target() -> None:
    live = Live()
    live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", audiences=[A], kind=EVENT_HUBS)), live)
    flow = change(found, "flow", "orders")
    assert flow.action == "replace" and flow.destructive
    assert flow.reason == f"the destination type changes ({KINESIS} to {EVENT_HUBS})"
    assert change(found, "target", "orders").action == "replace"
    # Its account changes type too: a replace of its own, sensitive and destructive.
    account = change(found, "account", "orders-account")
    assert account.action == "replace" and account.sensitive


def test_a_replaced_account_replaces_its_dataflows() -> None:
    live = Live()
    shared = live.account("shared", kind=EVENT_HUBS)
    live.chain("orders", account=shared, audiences=[A])
    found = plan(desired(desired_flow("orders", account="shared", audiences=[A])), live)
    assert change(found, "account", "shared").action == "replace"
    # The dataflow's own type changes as well, which is the reason told first.
    assert change(found, "flow", "orders").action == "replace"


def test_an_account_replaced_under_an_unchanged_type_is_the_reason() -> None:
    live = Live()
    live.account("shared", kind=EVENT_HUBS)
    live.chain("orders", account=live.account("other"), audiences=[A])
    found = plan(desired(desired_flow("orders", account="shared", audiences=[A])), live)
    assert change(found, "account", "shared").action == "replace"
    assert change(found, "flow", "orders").reason == "its account shared is replaced"


def test_moving_to_another_account_replaces() -> None:
    live = Live()
    live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", account="new-account", audiences=[A])), live)
    assert change(found, "account", "new-account").action == "create"
    flow = change(found, "flow", "orders")
    assert flow.action == "replace" and flow.reason == "it moves to account new-account"
    # The old account is used by nothing after: noted, not deleted without --prune.
    assert any("orders-account" in note for note in found.notes)
    pruned = plan(desired(desired_flow("orders", account="new-account")), live, prune=True)
    assert ("delete", "account", "orders-account") in actions(pruned)


# prune ------------------------------------------------------------------------------


def _three_managed() -> Live:
    live = Live()
    live.chain("keep", audiences=[A])
    live.chain("gone", audiences=[A])
    live.chain("imported", marked=False)  # found through its account only
    return live


def test_without_prune_leftovers_are_noted() -> None:
    found = plan(desired(desired_flow("keep", audiences=[A])), _three_managed())
    assert [a for a in actions(found) if a[0] == "delete"] == []
    # The one found through its account only is not provably the tool's: not managed.
    assert any("(gone); --prune deletes them" in n for n in found.notes)
    assert any("account(s)" in n for n in found.notes) is False  # both accounts still used


def test_prune_deletes_only_marked_dataflows_and_their_unused_accounts() -> None:
    found = plan(desired(desired_flow("keep", audiences=[A])), _three_managed(), prune=True)
    deletes = [a for a in actions(found) if a[0] == "delete"]
    assert deletes == [
        ("delete", "flow", "gone"),
        ("delete", "target", "gone"),
        ("delete", "account", "gone-account"),
    ]
    assert change(found, "flow", "gone").destructive


def test_prune_deletes_an_idle_target() -> None:
    live = Live()
    live.chain("keep", audiences=[A])
    _, target = live.chain("interrupted")
    del live.state.flows[next(k for k in live.state.flows if "interrupted" in k)]
    found = plan(desired(desired_flow("keep", audiences=[A])), live, prune=True)
    assert ("delete", "target", "interrupted") in actions(found)
    assert change(found, "target", "interrupted").id == target["id"]


def test_an_idle_target_is_reused_by_its_new_dataflow() -> None:
    live = Live()
    live.chain("orders")
    del live.state.flows[next(iter(live.state.flows))]
    found = plan(desired(desired_flow("orders", audiences=[A])), live)
    assert actions(found) == [("create", "flow", "orders")]


def test_only_restricts_deletions() -> None:
    live = _three_managed()
    live.chain("other", audiences=[A])
    wanted = desired(desired_flow("keep", audiences=[A]))
    found = plan(wanted, live, prune=True, only=["keep", "gone"])
    deletes = {a for a in actions(found) if a[0] == "delete" and a[1] != "account"}
    assert deletes == {("delete", "flow", "gone"), ("delete", "target", "gone")}
    assert found.only == ["gone", "keep"]


# drift ------------------------------------------------------------------------------


def test_a_change_made_outside_is_drift() -> None:
    live = Live()
    flow, _ = live.chain("orders", audiences=[A])
    flow["description"] = "edited in the UI"
    found = plan(desired(desired_flow("orders", audiences=[A])), live)
    update = change(found, "flow", "orders")
    assert update.drift and [f.path for f in update.fields] == ["description"]
    assert [w.kind for w in found.warnings] == ["drift"]


def test_a_manifest_change_is_not_drift() -> None:
    live = Live()
    live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", audiences=[A, B])), live)
    assert not change(found, "flow", "orders").drift
    assert found.warnings == []


def test_a_dataflow_never_recorded_is_not_drift() -> None:
    live = Live()
    flow, _ = live.chain("orders", audiences=[A], applied=False)
    flow["description"] = "edited in the UI"
    assert not change(
        plan(desired(desired_flow("orders", audiences=[A])), live), "flow", "orders"
    ).drift


def test_a_target_edited_outside_is_drift() -> None:
    live = Live()
    _, target = live.chain("orders")
    target["params"]["stream"] = "elsewhere"
    update = change(plan(desired(desired_flow("orders")), live), "target", "orders")
    assert update.drift and update.action == "update"


# Who last wrote a flow and its target, as the platform records it (`updatedClient`),
# decides where the digest recorded at apply no longer matches.
ME, UI = "provisioner-ci", "exc_app"


def _written_by(flow_writer: str, target_writer: str, applied: bool = True) -> Live:
    live = Live()
    flow, target = live.chain("orders", audiences=[A], applied=applied)
    flow["description"] = "changed since the digest was recorded"
    flow["updatedClient"], target["updatedClient"] = flow_writer, target_writer
    return live


@pytest.mark.parametrize(
    ("flow_writer", "target_writer", "applied", "client", "expected"),
    [
        (ME, ME, True, ME, False),  # this tool wrote both last: a stale digest is no drift
        (ME, ME, False, ME, False),
        (UI, ME, True, ME, True),  # edited in the UI
        (UI, ME, False, ME, True),  # even with no digest ever recorded
        (ME, UI, True, ME, True),  # its target edited in the UI
        ("another-client", ME, True, ME, True),
        (UI, UI, True, None, True),  # this run's client unknown: the digest decides
        (ME, ME, True, None, True),
        (UI, UI, False, None, False),
    ],
)
def test_the_last_writer_the_platform_records_decides_drift(
    flow_writer: str, target_writer: str, applied: bool, client: str | None, expected: bool
) -> None:
    live = _written_by(flow_writer, target_writer, applied)
    found = plan(desired(desired_flow("orders", audiences=[A])), live, client=client)
    assert change(found, "flow", "orders").drift is expected
    assert ("drift" in [w.kind for w in found.warnings]) is expected


def test_a_digest_that_still_matches_is_never_drift() -> None:
    live = Live()
    flow, target = live.chain("orders", audiences=[A])
    flow["updatedClient"] = target["updatedClient"] = UI  # an edit in the UI, since undone
    found = plan(desired(desired_flow("orders", audiences=[A, B])), live, client=ME)
    assert not change(found, "flow", "orders").drift


def test_a_plan_with_other_credentials_knows_the_clients_the_project_file_lists() -> None:
    """A pull request planned with a read-only client: the apply pipeline's client is the
    tool's when the environment lists it (`clients`, reviewed like any change)."""
    live = _written_by("deployer", "deployer")
    wanted = desired(desired_flow("orders", audiences=[A]))
    found = plan(wanted, live, client="pr-reader", clients=["deployer"])
    assert not change(found, "flow", "orders").drift
    next(iter(live.state.flows.values()))["updatedClient"] = UI
    found = plan(wanted, live, client="pr-reader", clients=["deployer"])
    assert change(found, "flow", "orders").drift
    assert live.managed(client="pr-reader", clients=["deployer"]).clients == {
        "pr-reader",
        "deployer",
    }


def test_who_made_a_marked_object_is_never_the_tools_client() -> None:
    """Anyone can write the marker on a connection: its maker's later edits must still read
    as drift, and the UI or the platform's own clients never count, even when listed."""
    live = _written_by("attacker", "attacker")
    for resource in [*live.state.targets.values(), *live.state.connections.values()]:
        resource["createdClient"] = "attacker"
    found = plan(desired(desired_flow("orders", audiences=[A])), live, client="pr-reader")
    assert change(found, "flow", "orders").drift
    listed = live.managed(client="pr-reader", clients=[UI, "acp_foundation_connectors"])
    assert listed.clients == {"pr-reader"}


def test_a_writer_missing_on_either_object_leaves_it_to_the_digest() -> None:
    live = _written_by(ME, ME)
    del next(iter(live.state.targets.values()))["updatedClient"]
    found = plan(desired(desired_flow("orders", audiences=[A])), live, client=ME)
    assert change(found, "flow", "orders").drift


# thresholds --------------------------------------------------------------------------


def _fleet(count: int) -> Live:
    live = Live()
    for i in range(count):
        live.chain(f"flow-{i:02d}", audiences=[A])
    return live


@pytest.mark.parametrize(
    ("managed", "deleted", "warned"),
    # More than the share of a fleet of minManaged or more, or more than
    # ceil(0.3 x 10) = 3 in any one run, whatever the fleet.
    [(10, 3, False), (10, 4, True), (9, 3, False), (9, 9, True), (20, 6, True), (20, 7, True)],
)
def test_the_delete_threshold(managed: int, deleted: int, warned: bool) -> None:
    kept = [desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(deleted, managed)]
    found = plan(desired(*kept), _fleet(managed), prune=True)
    kinds = [w.kind for w in found.warnings]
    assert ("threshold" in kinds) is warned
    if warned:
        warning = next(w for w in found.warnings if w.kind == "threshold")
        assert len(warning.names) == deleted


def test_replaces_count_toward_the_threshold() -> None:
    wanted = [desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(10)]
    for flow in wanted[:4]:
        flow.type, flow.target_params = EVENT_HUBS, {"eventHubName": "orders"}
    found = plan(desired(*wanted), _fleet(10))
    assert "threshold" in [w.kind for w in found.warnings]


def test_a_custom_safety() -> None:
    kept = [desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(1, 4)]
    found = plan(desired(*kept), _fleet(4), prune=True, safety=Safety(0.2, 2))
    assert "threshold" in [w.kind for w in found.warnings]


def test_duplicates_do_not_count_toward_the_threshold_and_count_once() -> None:
    live = _fleet(10)
    for i in range(4):  # a second copy of four dataflows, made later
        live.chain(f"flow-{i:02d}", audiences=[A])
    everything = desired(*[desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(10)])
    found = plan(everything, live)
    assert "threshold" not in [w.kind for w in found.warnings]
    assert sum(1 for a in actions(found) if a[:2] == ("delete", "flow")) == 4
    # Managed counts each key once: 3 of 10 deleted is not over 30% even beside 4 copies.
    three_gone = desired(*[desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(3, 10)])
    found = plan(three_gone, live, prune=True)
    assert "threshold" not in [w.kind for w in found.warnings]
    four_gone = desired(*[desired_flow(f"flow-{i:02d}", audiences=[A]) for i in range(4, 10)])
    assert "threshold" in [w.kind for w in plan(four_gone, live, prune=True).warnings]


# duplicates -------------------------------------------------------------------------


def test_the_oldest_copy_is_kept() -> None:
    live = Live()
    first, first_target = live.chain("orders", audiences=[A])
    second, second_target = live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", audiences=[A])), live)
    deleted = {(c.type, c.id) for c in found.changes if c.action == "delete"}
    assert ("flow", second["id"]) in deleted and ("target", second_target["id"]) in deleted
    assert ("flow", first["id"]) not in deleted and ("target", first_target["id"]) not in deleted
    kept = {
        "flow": first["id"],
        "target": first_target["id"],
        "account": first_target["baseConnectionId"],
    }
    for copy in (c for c in found.changes if c.action == "delete"):
        assert copy.duplicate and not copy.destructive
        assert copy.reason == f"a duplicate of {kept[copy.type]}, which stays"
    assert [w.kind for w in found.warnings] == ["duplicate"]


def test_a_duplicate_account_keeps_the_one_in_use() -> None:
    live = Live()
    unused = live.account("shared")  # older, but no dataflow uses it
    used = live.account("shared")
    live.chain("orders", account=used, audiences=[A])
    found = plan(desired(desired_flow("orders", account="shared", audiences=[A])), live)
    assert [(c.type, c.id) for c in found.changes if c.action == "delete"] == [
        ("account", unused["id"])
    ]
    assert not [c for c in found.changes if c.type == "flow"]


def test_duplicates_are_left_alone_with_only() -> None:
    live = Live()
    live.chain("orders", audiences=[A])
    live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", audiences=[A])), live, only=["orders"])
    assert actions(found) == []


# renames ---------------------------------------------------------------------------


def test_renamed_from_renames_in_place() -> None:
    live = Live()
    flow, _ = live.chain("old", audiences=[A])
    found = plan(
        desired(desired_flow("new", account="old-account", audiences=[A], renamed_from=["old"])),
        live,
    )
    # The account's ledger records the new name first: the proof that survives the rename.
    assert actions(found) == [("update", "account", "old-account"), ("update", "flow", "new")]
    assert [(f.path, f.after) for f in change(found, "account", "old-account").fields] == [
        (f"dataflows.{flow['id']}", "new")
    ]
    update = change(found, "flow", "new")
    assert update.id == flow["id"]
    assert [(f.path, f.before, f.after) for f in update.fields] == [("name", "old", "new")]


def test_a_dataflow_found_by_its_live_name() -> None:
    live = Live()
    live.chain("old-key", audiences=[A], live_name="orders")
    found = plan(desired(desired_flow("orders", account="old-key-account", audiences=[A])), live)
    assert actions(found) == []  # the marker's key is rewritten by the next apply's record
    assert found.summary.unchanged == 4


def test_renamed_from_is_preferred_to_a_live_name() -> None:
    live = Live()
    by_rename, _ = live.chain("old", audiences=[A], live_name="stale")
    live.chain("other", audiences=[A], live_name="new")
    wanted = desired(
        desired_flow("new", account="old-account", audiences=[A], renamed_from=["old"]),
        desired_flow("other", audiences=[A]),
    )
    found = plan(wanted, live)
    assert change(found, "flow", "new").id == by_rename["id"]
    assert not [a for a in actions(found) if a[0] in ("create", "delete")]


# projects --------------------------------------------------------------------------


def test_a_default_project_dataflow_is_taken_over() -> None:
    live = Live()
    live.chain("orders", audiences=[A])
    found = plan(desired(desired_flow("orders", audiences=[A])), live, project="marketing")
    assert actions(found) == [("update", "account", "orders-account")]
    account = change(found, "account", "orders-account")
    assert account.reason == "taken over from project 'default'"
    assert [(f.path, f.before, f.after) for f in account.fields] == [
        ("project", "default", "marketing")
    ]


def test_another_projects_same_name_is_an_error() -> None:
    live = Live()
    live.chain("orders", audiences=[A], project="sales")
    with pytest.raises(ConflictError, match="belongs to project 'sales'"):
        plan(desired(desired_flow("orders", audiences=[A])), live, project="marketing")
    with pytest.raises(ConflictError, match="belongs to project 'sales'"):
        plan(desired(desired_flow("orders", audiences=[A])), live)


def test_a_foreign_dataflow_of_the_same_name_is_an_error() -> None:
    live = Live()
    foreign_account = account_resource("acc-foreign", "x")
    foreign_account["description"] = "made by hand"
    live.state.connections[foreign_account["id"]] = foreign_account
    flow, _ = live.chain("orders", account=foreign_account, marked=False)
    with pytest.raises(ConflictError, match=f"provisioner import --flow-id {flow['id']}"):
        plan(desired(desired_flow("orders")), live)


def test_prune_never_touches_another_project() -> None:
    live = Live()
    live.chain("mine", audiences=[A], project="a")
    live.chain("theirs", audiences=[A], project="b")
    found = plan(desired(desired_flow("mine", audiences=[A])), live, project="a", prune=True)
    assert actions(found) == []
    found = plan(desired(), live, project="a", prune=True)
    assert {c.name for c in found.changes} == {"mine", "mine-account"}


def test_duplicate_exports_are_warned() -> None:
    wanted = desired(
        desired_flow("one", account="shared", audiences=[A, B]),
        desired_flow("two", account="shared", audiences=[B, C]),
        desired_flow("three", account="shared", audiences=[D]),
    )
    found = plan(wanted, Live())
    warning = next(w for w in found.warnings if w.kind == "duplicate-export")
    assert warning.names == ["one", "two"]


def test_summary_counts_the_changes() -> None:
    live = Live()
    live.chain("update-me", audiences=[A])
    live.chain("prune-me", audiences=[A])
    wanted = desired(desired_flow("update-me", audiences=[B]), desired_flow("new", audiences=[A]))
    found = plan(wanted, live, prune=True)
    for action in ("create", "update", "replace", "delete"):
        assert getattr(found.summary, action) == sum(1 for c in found.changes if c.action == action)
