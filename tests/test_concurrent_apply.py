"""Real `provisioner apply` processes racing on one sandbox, served over loopback HTTP with
latency; a duplicate made by hand; a process killed between a create and its disable.

Every scenario ends with exactly one of each object per manifest, and a plan with nothing
to do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from provisioner.apply.requests import profile_base_body, profile_source_body, target_body
from provisioner.emulator import FaultRule
from provisioner.emulator.catalog import FLOW_SERVICE_PATH, KINESIS_SPEC_ID
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.resources import Caller
from tests.emulator_support import flow_body
from tests.test_scenarios import converged
from tests.workspace import AUDIENCES, Workspace, kinesis

A, B, C, D, E, F = AUDIENCES
MANIFESTS = 5
LATENCY_MS = 20
APPLY = [sys.executable, "-m", "provisioner", "apply", "manifests", "--auto-approve"]


def start_apply(ws: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        APPLY,
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_fleet(ws: Workspace) -> None:
    for i in range(MANIFESTS):
        ws.write(f"flow-{i}.yaml", kinesis(f"flow-{i}", [A, B], ["a.b"], stream=f"s{i}"))


def one_of_each(ws: Workspace) -> None:
    connections = ws.resources("connections")
    accounts = [c for c in connections if c["connectionSpec"]["id"] == KINESIS_SPEC_ID]
    assert len(ws.resources("flows")) == MANIFESTS
    assert len(ws.resources("targetConnections")) == MANIFESTS
    assert len(accounts) == MANIFESTS
    assert len(ws.resources("sourceConnections")) == 1
    assert sorted(f["name"] for f in ws.resources("flows")) == [
        f"flow-{i}" for i in range(MANIFESTS)
    ]


@pytest.mark.parametrize("racers", [2, 4])
def test_applies_started_together_make_one_of_each(workspace: Workspace, racers: int) -> None:
    ws = workspace
    ws.emulator.faults.latency_ms = LATENCY_MS
    write_fleet(ws)
    processes = [start_apply(ws) for _ in range(racers)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    ws.emulator.faults.latency_ms = 0
    for code, out, err in outcomes:
        # A racer that planned before another's write may find its etag stale: that
        # dataflow fails with the platform's 412 (the optimistic lock), never anything else.
        failures = [line for line in err.splitlines() if line.startswith("error: dataflow")]
        assert code == 0 or all("answered 412" in line for line in failures), out + err
    one_of_each(ws)
    converged(ws)


def seed_copy(ws: Workspace, name: str) -> dict[str, Any]:
    """A second copy of dataflow `name`, carrying the tool's marker, made after the first
    (as an apply racing another, or whose create reply was lost twice, leaves one)."""
    original = ws.flow(name)
    kept_target = next(
        t for t in ws.resources("targetConnections") if t["id"] in original["targetConnectionIds"]
    )
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, "prod")
    body = target_body(
        name,
        kept_target["baseConnectionId"],
        KINESIS_SPEC_ID,
        kept_target["params"],
    )
    target = ws.emulator.resources.create("targetConnections", caller, body)
    flow = flow_body(original["sourceConnectionIds"][0], target["id"], name)
    return ws.emulator.resources.create("flows", caller, flow)


def test_a_duplicate_made_by_hand_is_shown_and_removed(workspace: Workspace) -> None:
    ws = workspace
    write_fleet(ws)
    assert ws.apply().code == 0
    kept = ws.flow("flow-2")["id"]
    copy = seed_copy(ws, "flow-2")
    shown = ws.plan("--detailed-exitcode")
    assert shown.code == 2, shown.out + shown.err
    plan = ws.plan("--format", "json").json
    assert [(w["kind"], w["names"]) for w in plan["warnings"]] == [("duplicate", ["flow-2"])]
    deleted = {(c["type"], c["id"]) for c in plan["changes"]}
    assert ("flow", copy["id"]) in deleted and ("flow", kept) not in deleted
    assert all(c["action"] == "delete" and c["duplicate"] for c in plan["changes"])
    assert ws.apply().code == 0
    assert ws.flow("flow-2")["id"] == kept
    one_of_each(ws)
    converged(ws)


def test_killed_between_create_and_disable_a_rerun_disables_first(
    recorded_workspace: Workspace,
) -> None:
    """The platform creates a dataflow enabled: a process killed right after the create
    leaves it so, with nothing to export. The re-run disables it before any audience."""
    ws = recorded_workspace
    assert ws.log is not None
    ws.write("quiet.yaml", kinesis("quiet", [A, B], ["a.b"], enabled=False))
    process = start_apply(ws)

    def kill_at_the_disable(number: int, method: str, path: str) -> None:
        if method == "POST" and path.endswith("/action"):
            # The disable never happens: the process dies and its request is dropped.
            ws.emulator.faults.add_rule(
                FaultRule("drop", "POST", path.removeprefix(FLOW_SERVICE_PATH))
            )
            os.kill(process.pid, signal.SIGKILL)

    ws.emulator.observers.append(kill_at_the_disable)
    process.wait(timeout=60)
    process.communicate()
    ws.emulator.observers.clear()
    assert process.returncode == -signal.SIGKILL
    left = ws.flow("quiet")
    assert left["state"] == "enabled"
    assert left["transformations"][0]["params"]["segmentSelectors"]["selectors"] == []
    ws.log.entries.clear()
    rerun = ws.apply()
    assert rerun.code == 0, rerun.out + rerun.err
    writes = [(e.method, e.path, e.query.get("op")) for e in ws.log.writes()]
    disable = writes.index(("POST", f"/flows/{left['id']}/action", ["disable"]))
    patch = writes.index(("PATCH", f"/flows/{left['id']}", None))
    assert disable < patch
    assert ("POST", "/flows", None) not in writes  # adopted, not made again
    done = ws.flow("quiet")
    assert done["id"] == left["id"] and done["state"] == "disabled"
    assert len(done["transformations"][0]["params"]["segmentSelectors"]["selectors"]) == 2
    converged(ws)


def test_a_spare_profile_source_is_shown_and_removed_with_its_base(workspace: Workspace) -> None:
    """Two applies that each made the sandbox's profile source before settling leave a
    spare: no dataflow uses it, so it is a duplicate, deleted with its own base."""
    ws = workspace
    write_fleet(ws)
    assert ws.apply().code == 0
    kept = ws.resources("sourceConnections")[0]["id"]
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, "prod")
    base = ws.emulator.resources.create("connections", caller, profile_base_body())
    spare = ws.emulator.resources.create(
        "sourceConnections", caller, profile_source_body(base["id"])
    )
    plan = ws.plan("--format", "json").json
    assert [(w["kind"], w["names"]) for w in plan["warnings"]] == [("duplicate", ["profile"])]
    assert [(c["action"], c["type"], c["id"], c["base_id"]) for c in plan["changes"]] == [
        ("delete", "source", spare["id"], base["id"])
    ]
    assert ws.apply().code == 0
    assert [s["id"] for s in ws.resources("sourceConnections")] == [kept]
    assert base["id"] not in {c["id"] for c in ws.resources("connections")}
    one_of_each(ws)
    assert ws.plan("--detailed-exitcode").code == 0


def test_a_duplicate_its_own_apply_deleted_first_is_not_a_failure(workspace: Workspace) -> None:
    """Two applies racing: one deletes its own extra copy while the other, which planned
    that copy's delete, is about to send it. Gone is what both wanted."""
    ws = workspace
    write_fleet(ws)
    assert ws.apply().code == 0
    copy = seed_copy(ws, "flow-2")
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, "prod")

    def the_owner_deletes_it_first(number: int, method: str, path: str) -> None:
        if method == "DELETE" and path.endswith(copy["id"]):
            ws.emulator.resources.delete("flows", caller, copy["id"])

    ws.emulator.observers.append(the_owner_deletes_it_first)
    result = ws.apply()
    ws.emulator.observers.clear()
    assert result.code == 0, result.err
    assert "error:" not in result.err and "0 failed" in result.out
    one_of_each(ws)
    converged(ws)
