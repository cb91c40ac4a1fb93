"""What apply says it did: one line per object with its id (text), and `apply --format json`
(each object, how it ended and its id, with `format_version`), checked against what the
emulator holds afterwards and against the published schema. Over loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from provisioner.cli import main
from provisioner.cli.offline import apply_schema_text
from provisioner.emulator.faults import FaultRule
from tests.workspace import (
    AUDIENCES,
    SECRETS,
    Outcome,
    Workspace,
    _cwd,
    _environment,
    event_hubs,
    kinesis,
)

A, B, *_ = AUDIENCES
ROOT = Path(__file__).parent.parent
KINDS = {"flow": "flows", "target": "targetConnections", "account": "connections"}
Json = dict[str, Any]


def applied_json(ws: Workspace, *args: str) -> tuple[Outcome, Json]:
    result = ws.apply("--format", "json", *args)
    data: Json = json.loads(result.out)  # standard output is the JSON alone
    jsonschema.Draft202012Validator(json.loads(apply_schema_text())).validate(data)
    return result, data


def stored_ids(ws: Workspace, kind: str) -> set[str]:
    return {str(r["id"]) for r in ws.resources(kind)}


def by_name(data: Json) -> dict[tuple[str, str], Json]:
    return {(o["type"], o["name"]): o for o in data["objects"]}


def test_created_objects_come_with_the_ids_the_platform_gave_them(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.write("clicks.yaml", event_hubs("clicks", [B]))
    result, data = applied_json(ws)
    assert result.code == 0, result.err
    assert data["format_version"] == "1" and data["command"] == "apply"
    assert data["succeeded"] is True and data["failures"] == []
    objects = by_name(data)
    for (kind, _), item in objects.items():
        assert item["action"] == "create" and item["status"] == "applied", item
        if kind == "source":
            assert item["id"] == str(ws.resources("sourceConnections")[0]["id"])
        else:
            assert item["id"] in stored_ids(ws, KINDS[kind]), item
    assert objects[("flow", "orders")]["id"] == ws.flow("orders")["id"]
    assert objects[("flow", "orders")]["part"] == "dataflow orders"
    summary = data["summary"]
    assert summary == {
        "changes": len(data["objects"]),
        "applied": len(data["objects"]),
        "dataflows": 2,
        "dataflows_applied": 2,
        "failed": 0,
    }
    # people read the plan and the lines on standard error
    assert "Plan: " in result.err and "+ dataflow orders: created, id " in result.err
    assert f"Apply finished: {summary['changes']} of {summary['changes']} change(s)" in result.err


def test_updates_replaces_and_deletes_name_the_ids_they_touched(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.write("moving.yaml", kinesis("moving", [A], stream="moving"))
    ws.write("retired.yaml", kinesis("retired", [A], stream="retired"))
    assert ws.apply().code == 0
    before = {name: ws.flow(name)["id"] for name in ("orders", "moving", "retired")}
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    ws.write("moving.yaml", event_hubs("moving", [A]))  # another type: a replace
    ws.remove("retired.yaml")
    result, data = applied_json(ws, "--prune")
    assert result.code == 0, result.err
    objects = by_name(data)
    assert objects[("flow", "orders")] | {"id": before["orders"]} == objects[("flow", "orders")]
    assert objects[("flow", "orders")]["action"] == "update"
    moved = objects[("flow", "moving")]
    assert moved["action"] == "replace" and moved["previous_id"] == before["moving"]
    assert moved["id"] == ws.flow("moving")["id"] != before["moving"]
    retired = objects[("flow", "retired")]
    assert retired["action"] == "delete" and retired["id"] == before["retired"]
    assert before["retired"] not in stored_ids(ws, "flows")
    assert f"~ dataflow orders: updated, id {before['orders']}" in result.err
    assert f"-/+ dataflow moving: replaced, id {before['moving']} -> {moved['id']}" in result.err
    assert f"- dataflow retired: deleted, id {before['retired']}" in result.err


def test_text_apply_prints_one_line_per_object_with_its_id(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    result = ws.apply()
    assert result.code == 0, result.err
    flow, target = ws.flow("orders"), ws.resources("targetConnections")[0]
    lines = result.out.splitlines()
    assert f"  + dataflow orders: created, id {flow['id']}" in lines
    assert f"  + target connection orders: created, id {target['id']}" in lines
    assert lines[-1].startswith("Apply finished: ")
    object_lines = [line for line in lines if line.startswith("  + ") and ": created" in line]
    assert len(object_lines) == int(lines[-1].split(" of ")[1].split(" ")[0])


def test_a_failed_part_is_in_the_json_and_the_exit_code(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a-flow", [A], stream="a"))
    ws.write("b.yaml", kinesis("b-flow", [A], stream="b"))
    # every try of the first dataflow's create fails (one at a time: a-flow is applied first)
    ws.emulator.faults.add_rule(FaultRule("500", "POST", "/flows", times=8))
    result, data = applied_json(ws, "--concurrency", "1")
    assert result.code == 1
    assert data["succeeded"] is False
    assert [f["part"] for f in data["failures"]] == ["dataflow a-flow"]
    assert data["failures"][0]["refused"] is False
    assert "create dataflow a-flow" in data["failures"][0]["message"]
    objects = by_name(data)
    assert objects[("flow", "a-flow")]["status"] == "failed"
    assert objects[("flow", "a-flow")]["id"] is None
    assert objects[("target", "a-flow")]["status"] == "failed"  # its part failed as a whole
    assert objects[("flow", "b-flow")]["id"] == ws.flow("b-flow")["id"]
    assert data["summary"]["dataflows_applied"] == 1 and data["summary"]["failed"] == 1
    assert "! dataflow a-flow: not created (dataflow a-flow failed)" in result.err
    assert "Apply finished: 5 of 7 change(s) applied (1 of 2 dataflow(s)); 1 failed." in result.err


def test_a_refused_part_of_a_saved_plan_says_so(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    assert ws.plan("--out", "plan.json").code == 0
    ws.write("orders.yaml", kinesis("orders", [B]))  # the manifest moved on since the review
    result, data = applied_json(ws, "--plan", "plan.json")
    assert result.code == 1
    assert data["failures"][0]["part"] == "dataflow orders"
    assert data["failures"][0]["refused"] is True
    assert by_name(data)[("flow", "orders")]["status"] == "refused"
    assert "! dataflow orders: not updated (dataflow orders refused)" in result.err


def test_nothing_to_do_is_an_empty_result(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders", [A]))
    assert workspace.apply().code == 0
    result, data = applied_json(workspace)
    assert result.code == 0
    assert data["objects"] == [] and data["succeeded"] is True
    assert data["summary"]["changes"] == 0
    assert "No changes." in result.err


def test_the_embedded_emulators_path_is_relative_to_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "orders.yaml").write_text(kinesis("orders", [A]), encoding="utf-8")
    with _environment(SECRETS), _cwd(tmp_path), pytest.raises(SystemExit) as stop:
        main(["apply", "--emulator", "--auto-approve", "--format", "json", "orders.yaml"])
    assert stop.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"]["kind"] == "emulator"
    assert data["target"]["url"] == ".provisioner/emulator.db"  # no path of this machine
    assert str(tmp_path) not in json.dumps(data)


def test_the_committed_schema_is_the_one_the_tool_prints(workspace: Workspace) -> None:
    committed = (ROOT / "schemas" / "apply.schema.json").read_text(encoding="utf-8")
    assert committed == apply_schema_text(), (
        "run: provisioner schema --apply > schemas/apply.schema.json"
    )
    result = workspace.run("schema", "--apply")
    assert result.code == 0 and result.out == committed
    assert workspace.run("schema", "--apply", "--plan").code == 1
