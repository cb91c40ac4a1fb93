"""`provisioner show PLAN.json`: a saved plan rendered again, exactly as `plan` printed it,
without a request to the platform; a plan file that is not one, or was changed since it was
saved, is refused with exit 1. Over loopback HTTP against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner.plan.model import Plan
from provisioner.render import PLAN_FORMATS
from tests.workspace import AUDIENCES, Outcome, Workspace, event_hubs, kinesis

A, B, C, D, _, _ = AUDIENCES
NAMES = {A: "Men over 50", B: "Summer prospects", C: "Gold members", D: "Silver members"}


def every_kind_of_change(ws: Workspace) -> None:
    """Applied, then changed so that a plan creates, updates, replaces and deletes (with
    --prune), and names audiences the manifests give by id alone."""
    ws.emulator.seed_audiences("prod", [{"id": i, "name": n} for i, n in NAMES.items()])
    ws.write("a.yaml", kinesis("orders", [A, B, C, D]))
    ws.write("b.yaml", kinesis("retired", [A], stream="retired"))
    ws.write("c.yaml", kinesis("moving", [A], stream="moving"))
    assert ws.apply().code == 0
    ws.remove("b.yaml")
    ws.write("a.yaml", kinesis("orders", [A, {"id": B, "name": "Prospects"}]))
    ws.write("c.yaml", event_hubs("moving", [A]))
    ws.write("d.yaml", kinesis("clicks", [C], stream="clicks"))


def show(ws: Workspace, *args: str) -> Outcome:
    """`show` with no credentials and no platform to reach: it must need neither."""
    saved, ws.env = ws.env, {"AEP_PLATFORM_URL": "http://127.0.0.1:9"}
    try:
        return ws.run("show", *args)
    finally:
        ws.env = saved


@pytest.mark.parametrize("output_format", PLAN_FORMATS)
def test_show_prints_what_plan_printed(recorded_workspace: Workspace, output_format: str) -> None:
    ws = recorded_workspace
    every_kind_of_change(ws)
    planned = ws.plan("--prune", "--format", output_format, "--out", "plan.json")
    assert planned.code == 0, planned.err
    assert ws.log is not None
    requests = len(ws.log.entries)
    shown = show(ws, "plan.json", "--format", output_format)
    assert shown.code == 0, shown.err
    assert shown.out == planned.out
    assert shown.err == ""
    assert len(ws.log.entries) == requests  # not one request


def test_show_of_a_plan_with_every_action(workspace: Workspace) -> None:
    every_kind_of_change(workspace)
    assert workspace.plan("--prune", "--out", "plan.json").code == 0
    text = show(workspace, "plan.json").out
    for heading in ("+ dataflow clicks", "~ dataflow orders", "-/+ dataflow moving"):
        assert heading in text
    assert "- dataflow retired" in text
    assert "Plan: " in text and "to replace" in text
    # given by id alone, named as the sandbox names it; given a name, as the manifest does
    assert f"+ audience {C} (Gold members)" in text
    assert f"audience {B} " in text and "Prospects" in text
    summary = json.loads(show(workspace, "plan.json", "--format", "json").out)["summary"]
    assert min(summary["create"], summary["update"], summary["replace"], summary["delete"]) > 0
    assert json.loads(show(workspace, "plan.json", "--format", "gitlab-report").out) == {
        "create": summary["create"] + summary["replace"],
        "update": summary["update"],
        "delete": summary["delete"] + summary["replace"],
    }


def saved(ws: Workspace) -> dict[str, Any]:
    ws.write("a.yaml", kinesis("orders", [A]))
    assert ws.plan("--out", "plan.json").code == 0
    data: dict[str, Any] = json.loads((ws.root / "plan.json").read_text(encoding="utf-8"))
    return data


def write(ws: Workspace, data: dict[str, Any] | str, name: str = "edited.json") -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    (ws.root / name).write_text(text, encoding="utf-8")
    return name


def test_an_edited_plan_is_refused(workspace: Workspace) -> None:
    data = saved(workspace)
    data["changes"][-1]["name"] = "someone-elses"
    result = show(workspace, write(workspace, data))
    assert result.code == 1
    assert "was changed after it was saved (its checksum does not match)" in result.err
    assert result.out == ""


def test_with_a_plan_key_only_a_plan_signed_with_it_is_shown(workspace: Workspace) -> None:
    workspace.env["PROVISIONER_PLAN_KEY"] = "the-plan-jobs-key"
    data = saved(workspace)  # signed with the key
    data["changes"][-1]["name"] = "someone-elses"
    forged = Plan.model_validate(data)
    unsigned = write(workspace, forged.sealed().as_json(), "unsigned.json")
    other = write(workspace, forged.sealed(b"another key").as_json(), "other.json")
    for key, name, expected in (
        ("the-plan-jobs-key", "plan.json", 0),
        ("the-plan-jobs-key", unsigned, 1),
        ("the-plan-jobs-key", other, 1),
        (None, unsigned, 0),  # re-sealed: without the key, nothing can tell
    ):
        environment = {"PROVISIONER_PLAN_KEY": key} if key else {}
        saved_env, workspace.env = workspace.env, environment
        try:
            result = workspace.run("show", name)
        finally:
            workspace.env = saved_env
        assert result.code == expected, (name, result.err)
    workspace.env = {"PROVISIONER_PLAN_KEY": "the-plan-jobs-key"}
    assert "is not signed, and PROVISIONER_PLAN_KEY is set" in workspace.run("show", unsigned).err
    assert "is not signed with this PROVISIONER_PLAN_KEY" in workspace.run("show", other).err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the plan missing.json: No such file or directory"),
        ("{}", "is not a plan saved by `provisioner plan --out`"),
        ("[1, 2", "is not a plan saved by `provisioner plan --out`"),
        ("# PLAN.md, not a plan\n", "is not a plan saved by `provisioner plan --out`"),
    ],
)
def test_what_is_not_a_saved_plan_is_exit_1(
    workspace: Workspace, content: str | None, message: str
) -> None:
    name = "missing.json" if content is None else write(workspace, content)
    result = show(workspace, name)
    assert result.code == 1
    assert message in result.err
    assert result.out == ""


def test_show_needs_the_plan_file(workspace: Workspace, tmp_path: Path) -> None:
    assert show(workspace).code == 1
    assert "Missing argument 'PLAN.json'" in show(workspace).err
    assert show(workspace, str(tmp_path)).code == 1  # a directory
    assert show(workspace, "plan.json", "--format", "sarif").code == 1
