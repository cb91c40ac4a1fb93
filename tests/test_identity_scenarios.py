"""End to end over loopback HTTP: which live dataflow a manifest is, whatever its name,
its project or the history of its repository; and plans that show each change as it is.

Every scenario ends with exactly one dataflow per manifest and nothing deleted that was
not asked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.state.marker import read_marker
from tests.test_scenarios import converged, counts
from tests.workspace import AUDIENCES, Workspace, kinesis

A, B, C, D, E, F = AUDIENCES


def flow_names(ws: Workspace) -> list[str]:
    return sorted(f["name"] for f in ws.resources("flows"))


def applied(ws: Workspace, *args: str) -> str:
    outcome = ws.apply(*args)
    assert outcome.code == 0, outcome.out + outcome.err
    return outcome.out


# names the marker's syntax could be mistaken for ----------------------------------------


@pytest.mark.parametrize("name", ["Summer; EU", "promo; applied=deadbeef"])
def test_a_name_holding_the_markers_syntax_is_one_dataflow(workspace: Workspace, name: str) -> None:
    ws = workspace
    ws.write("flow.yaml", kinesis(f'"{name}"', [A], ["a.b"]))
    for _ in range(2):
        applied(ws)
    assert flow_names(ws) == [name]
    assert counts(ws)["targetConnections"] == 1
    third = ws.plan("--detailed-exitcode")
    assert third.code == 0 and "No changes." in third.out, third.out + third.err
    target = ws.resources("targetConnections")[0]
    assert (read_marker(target) or {})["dataflow"] == name


# nothing to apply is refused ------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "---\n", "null\n", "# nothing here yet\n"])
def test_prune_with_an_empty_manifest_deletes_nothing(workspace: Workspace, text: str) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    before = counts(ws)
    zero = ws.root / "zero.yaml"
    zero.write_text(text, encoding="utf-8")
    outcome = ws.run("apply", "--prune", "--auto-approve", "zero.yaml")
    assert outcome.code == 1, outcome.out + outcome.err
    assert counts(ws) == before
    assert ws.run("validate", "zero.yaml").code == 1


# enabled: false never exports -------------------------------------------------------------


def test_a_disabled_dataflow_is_disabled_before_any_audience(
    recorded_workspace: Workspace,
) -> None:
    ws = recorded_workspace
    assert ws.log is not None
    ws.write("quiet.yaml", kinesis("quiet", [A, B], ["a.b"], enabled=False))
    applied(ws)
    writes = [(e.method, e.path, e.query.get("op")) for e in ws.log.writes()]
    flow_id = ws.flow("quiet")["id"]
    disable = writes.index(("POST", f"/flows/{flow_id}/action", ["disable"]))
    patch = writes.index(("PATCH", f"/flows/{flow_id}", None))
    assert writes.index(("POST", "/flows", None)) < disable < patch
    assert ws.flow("quiet")["state"] == "disabled"
    converged(ws)


# renames -------------------------------------------------------------------------------


def test_renamed_from_renames_in_place(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    applied(ws)
    flow_id = ws.flow("orders")["id"]
    ws.write("orders.yaml", kinesis("orders-eu", [A], account="shop") + "renamedFrom: [orders]\n")
    shown = ws.plan("--format", "json").json
    # The account records the new name (its marker is the one the platform lets the tool
    # rewrite everywhere), then the dataflow is renamed.
    assert [(c["action"], c["type"], c["name"]) for c in shown["changes"]] == [
        ("update", "account", "shop"),
        ("update", "flow", "orders-eu"),
    ]
    assert [(f["path"], f["after"]) for f in shown["changes"][0]["fields"]] == [
        (f"dataflows.{flow_id}", "orders-eu")
    ]
    applied(ws)
    assert ws.flow("orders-eu")["id"] == flow_id
    assert flow_names(ws) == ["orders-eu"]
    [account] = [c for c in ws.resources("connections") if "account" in (read_marker(c) or {})]
    assert (read_marker(account) or {})[f"flow.{flow_id}"] == "orders-eu"
    converged(ws)


def test_overlapping_exports_to_one_stream_are_warned(workspace: Workspace) -> None:
    ws = workspace
    ws.write("one.yaml", kinesis("one", [A, B], stream="shared", account="shop"))
    ws.write("two.yaml", kinesis("two", [B, C], stream="shared", account="shop"))
    ws.write("three.yaml", kinesis("three", [B], stream="other", account="shop"))
    warnings = ws.plan("--format", "json").json["warnings"]
    assert [(w["kind"], w["names"]) for w in warnings] == [("duplicate-export", ["one", "two"])]


# accounts changed outside ----------------------------------------------------------------


def test_an_account_edited_outside_is_shown_and_repaired(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    applied(ws)
    account = next(c for c in ws.resources("connections") if c["name"] == "shop")
    ws.emulator.resources.outside_edit(
        "connections",
        "prod",
        account["id"],
        [
            {"op": "replace", "path": "/name", "value": "renamed in the UI"},
            {"op": "replace", "path": "/auth/params/region", "value": "eu-west-1"},
        ],
    )
    shown = ws.plan("--format", "json").json
    [change] = shown["changes"]
    assert (change["action"], change["type"], change["name"]) == ("update", "account", "shop")
    fields = {f["path"]: (f["before"], f["after"]) for f in change["fields"]}
    assert fields == {
        "name": ("renamed in the UI", "shop"),
        "params.region": ("eu-west-1", "us-east-1"),
    }
    assert not change["sensitive"]
    assert "credentials" not in [w["kind"] for w in shown["warnings"]]
    applied(ws)
    repaired = next(c for c in ws.resources("connections") if c["id"] == account["id"])
    assert repaired["name"] == "shop"
    converged(ws)


def test_an_account_left_unused_by_a_move_is_noted_then_pruned(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], account="old"))
    applied(ws)
    ws.write("orders.yaml", kinesis("orders", [A], account="new"))
    plan = ws.plan("--format", "json").json
    assert any("(old); --prune deletes them" in note for note in plan["notes"])
    flow = next(c for c in plan["changes"] if c["type"] == "flow")
    assert flow["action"] == "replace" and flow["reason"] == "it moves to account new"
    applied(ws)
    assert sorted(c["name"] for c in ws.resources("connections")) == [
        "new",
        "old",
        "provisioner profile",
    ]
    pruning = ws.plan("--prune", "--format", "json").json
    assert [(c["action"], c["type"], c["name"]) for c in pruning["changes"]] == [
        ("delete", "account", "old")
    ]
    applied(ws, "--prune")
    assert "old" not in [c["name"] for c in ws.resources("connections")]
    assert flow_names(ws) == ["orders"]
    converged(ws)


# import, then an edit in the UI ------------------------------------------------------------


def test_an_imported_dataflow_edited_in_the_ui_is_drift(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    flow = ws.flow("orders")
    ws.remove("orders.yaml")
    # Forget everything the tool wrote on the target: as a dataflow made by hand.
    target = ws.resources("targetConnections")[0]
    ws.emulator.resources.outside_edit(
        "targetConnections",
        "prod",
        target["id"],
        [{"op": "replace", "path": "/description", "value": ""}],
    )
    ws.env.update({"ORDERS_ACCOUNT_ACCESS_KEY_ID": "AKIAEXAMPLE", "ORDERS_ACCOUNT_SECRET_KEY": "x"})
    imported = ws.run("import", "--flow-id", flow["id"], "-o", "manifests/orders.yaml")
    assert imported.code == 0, imported.out + imported.err
    applied(ws)  # adopts the credentials; records what it applied
    converged(ws)
    ws.emulator.resources.outside_edit(
        "flows", "prod", flow["id"], [{"op": "replace", "path": "/description", "value": "UI"}]
    )
    shown = ws.plan("--format", "json").json
    [change] = shown["changes"]
    assert change["type"] == "flow" and change["drift"] is True
    assert "drift" in [w["kind"] for w in shown["warnings"]]
    applied(ws)
    converged(ws)
    assert flow_names(ws) == ["orders"]


# two repositories, one sandbox ------------------------------------------------------------


@pytest.fixture
def second_repo(workspace: Workspace, tmp_path: Path) -> Workspace:
    """Another repository's checkout, on the same sandbox as `workspace`."""
    return Workspace(tmp_path / "other-repo", workspace.url, workspace.emulator)


def test_two_projects_never_prune_each_other(workspace: Workspace, second_repo: Workspace) -> None:
    a, b = workspace, second_repo
    a.root.joinpath("provisioner.yaml").write_text("project: a\n")
    b.root.joinpath("provisioner.yaml").write_text("project: b\n")
    a.write("a1.yaml", kinesis("a-one", [A], stream="a1"))
    a.write("a2.yaml", kinesis("a-two", [A], stream="a2"))
    b.write("b1.yaml", kinesis("b-one", [A], stream="b1"))
    applied(a, "--prune")
    applied(b, "--prune")
    assert flow_names(a) == ["a-one", "a-two", "b-one"]
    a.remove("a2.yaml")
    pruning = a.plan("--prune", "--format", "json").json
    assert {c["name"] for c in pruning["changes"]} == {"a-two", "a-two-account"}
    applied(a, "--prune")
    assert flow_names(a) == ["a-one", "b-one"]
    b.remove("b1.yaml")
    b.write("b2.yaml", kinesis("b-two", [A], stream="b2"))
    applied(b, "--prune")
    assert flow_names(a) == ["a-one", "b-two"]
    converged(a)
    converged(b)


def test_another_projects_name_is_an_error(workspace: Workspace, second_repo: Workspace) -> None:
    a, b = workspace, second_repo
    a.root.joinpath("provisioner.yaml").write_text("project: a\n")
    b.root.joinpath("provisioner.yaml").write_text("project: b\n")
    a.write("orders.yaml", kinesis("orders", [A]))
    applied(a)
    b.write("orders.yaml", kinesis("orders", [B]))
    for outcome in (b.plan(), b.apply()):
        assert outcome.code == 1
        assert "belongs to project 'a'" in outcome.err
    assert flow_names(a) == ["orders"]
    assert counts(a)["targetConnections"] == 1


def test_naming_the_project_takes_over_without_recreating(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    flow_id = ws.flow("orders")["id"]
    ws.root.joinpath("provisioner.yaml").write_text("project: marketing\n")
    shown = ws.plan("--format", "json").json
    [change] = shown["changes"]
    assert (change["action"], change["type"]) == ("update", "account")
    assert change["reason"] == "taken over from project 'default'"
    applied(ws)
    assert ws.flow("orders")["id"] == flow_id
    converged(ws)


# plans that tell the truth ------------------------------------------------------------


def test_a_renamed_audience_shows_its_old_and_new_name(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [{"id": A, "name": "Men over 50"}]))
    applied(ws)
    ws.write("orders.yaml", kinesis("orders", [{"id": A, "name": "Men over 55"}]))
    text = ws.plan().out
    assert f'~ audience {A} "Men over 50" -> "Men over 55"' in text
    [change] = ws.plan("--format", "json").json["changes"]
    assert {
        "path": f"audiences.{A}.name",
        "before": "Men over 50",
        "after": "Men over 55",
    }.items() <= change["fields"][0].items()
    applied(ws)
    converged(ws)


def test_a_description_only_change_shows(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], description="old words"))
    applied(ws)
    ws.write("orders.yaml", kinesis("orders", [A], description="new words"))
    outcome = ws.plan("--detailed-exitcode")
    assert outcome.code == 2
    assert '~ description: "old words" -> "new words"' in outcome.out


def test_a_region_change_is_not_new_credentials(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    applied(ws)
    ws.write("orders.yaml", kinesis("orders", [A], account="shop", region="eu-west-1"))
    shown = ws.plan("--format", "json").json
    account = next(c for c in shown["changes"] if c["type"] == "account")
    assert [f["path"] for f in account["fields"]] == ["params.region"]
    assert not account["sensitive"]
    assert "credentials" not in [w["kind"] for w in shown["warnings"]]
    assert "new credentials" not in ws.plan().out
    applied(ws)
    converged(ws)


def test_the_plan_and_the_apply_summary_agree(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a", [A], stream="a"))
    ws.write("b.yaml", kinesis("b", [A], stream="b"))
    applied(ws)
    ws.write("a.yaml", kinesis("a", [A, B], stream="a"))
    ws.remove("b.yaml")
    ws.write("c.yaml", kinesis("c", [A], stream="c"))
    shown = ws.plan("--prune", "--format", "json").json
    summary, changes = shown["summary"], shown["changes"]
    for action in ("create", "update", "replace", "delete"):
        assert summary[action] == sum(1 for c in changes if c["action"] == action)
    out = applied(ws, "--prune")
    plan_line = (
        f"Plan: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['replace']} to replace, {summary['delete']} to delete"
    )
    assert plan_line in out
    dataflows = len({c["name"] for c in changes if c["type"] in ("flow", "target")})
    total = sum(summary[a] for a in ("create", "update", "replace", "delete"))
    assert (
        f"Apply finished: {total} of {total} change(s) applied "
        f"({dataflows} of {dataflows} dataflow(s)); 0 failed." in out
    )
    assert flow_names(ws) == ["a", "c"]


def test_destroy_without_a_terminal_needs_confirmation(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    outcome = ws.run("destroy", "manifests")
    assert outcome.code == 1
    assert "destroy needs confirmation" in outcome.err
    assert flow_names(ws) == ["orders"]
