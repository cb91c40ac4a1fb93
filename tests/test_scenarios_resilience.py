"""End to end over loopback HTTP: saved plans, faults, kills, prune, destroy, import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from provisioner.emulator import FaultRule
from provisioner.platform import client as client_module
from provisioner.platform.client import RetryPolicy
from provisioner.platform.ids import IMS_TOKEN_PATH, SEGMENT_SELECTORS
from tests.emulator_support import Api, Chain
from tests.test_scenarios import ONE_DATAFLOW, converged, counts
from tests.workspace import AUDIENCES, SECRETS, Workspace, event_hubs, kinesis

A, B, C, D, E, F = AUDIENCES


# saved plans -------------------------------------------------------------------------


def test_a_saved_plan_applies_exactly(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    assert ws.plan("--out", "plan.json").code == 0
    saved = json.loads((ws.root / "plan.json").read_text())
    assert saved["checksum"].startswith("sha256:")
    assert oct((ws.root / "plan.json").stat().st_mode & 0o777) == "0o600"
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))  # not what was reviewed
    refused = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert refused.code == 1
    assert "dataflow orders: refused: " in refused.err
    assert ws.resources("flows") == []  # nothing of it was written
    ws.write("orders.yaml", kinesis("orders", [A, B]))  # the reviewed manifests again
    result = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert result.code == 0, result.err
    ids = [
        s["value"]["id"]
        for s in ws.flow("orders")["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    ]
    assert ids == [A, B]


def test_a_saved_plan_reuses_a_profile_source_made_since(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a-flow", [A], stream="a"))
    ws.plan("--out", "plan.json")  # plans the sandbox's profile source
    ws.write("b.yaml", kinesis("b-flow", [A], stream="b"))
    ws.run("apply", "manifests/b.yaml", "--auto-approve")  # another apply makes it first
    result = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert result.code == 0, result.err
    assert counts(ws)["sourceConnections"] == 1
    converged(ws)


def test_a_stale_plan_is_refused_for_that_dataflow(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]) + "---\n" + kinesis("other", [A], stream="x"))
    ws.apply()
    ws.write(
        "orders.yaml", kinesis("orders", [A, B]) + "---\n" + kinesis("other", [A, B], stream="x")
    )
    ws.plan("--out", "plan.json")
    flow = ws.flow("orders")
    ws.emulator.resources.outside_edit(
        "flows",
        "prod",
        flow["id"],
        [{"op": "replace", "path": "/description", "value": "changed meanwhile"}],
    )
    result = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert result.code == 1
    assert "dataflow orders: refused: flow orders differs from the saved plan in " in result.err
    assert "changed on the platform since the plan" in result.err
    assert ws.flow("orders")["description"] == "changed meanwhile"  # nothing written
    other = ws.flow("other")["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    assert len(other) == 2  # the other dataflow was applied


def test_a_plan_whose_secret_changed_is_refused(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.plan("--out", "plan.json")
    ws.env["AWS_SECRET"] = "another-value"
    result = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert result.code == 1
    assert "a secret now resolves to another value than when the plan was made" in result.err
    assert ws.resources("connections") == [] or all(
        c["name"] != "orders-account" for c in ws.resources("connections")
    )


def test_an_edited_plan_file_is_refused(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.plan("--out", "plan.json")
    path = ws.root / "plan.json"
    path.write_text(path.read_text().replace('"orders"', '"hijacked"'))
    result = ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert result.code == 1
    assert "was changed after it was saved" in result.err
    assert ws.resources("flows") == []


def test_a_plan_for_another_target_is_refused(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.plan("--out", "plan.json")
    result = ws.run(
        "apply", "manifests", "--plan", "plan.json", "--auto-approve", "--sandbox", "dev"
    )
    assert result.code == 1
    assert "the plan was made for another run (target:" in result.err
    assert "sandbox prod" in result.err


def test_412_during_apply_fails_that_dataflow_with_a_hint(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.apply()
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    flow_id = ws.flow("orders")["id"]
    resources = ws.emulator.resources

    def edit_first(number: int, method: str, path: str) -> None:
        if method == "PATCH" and path.endswith(flow_id):
            ws.emulator.observers.clear()
            resources.outside_edit(
                "flows",
                "prod",
                flow_id,
                [{"op": "replace", "path": "/description", "value": "raced"}],
            )

    ws.emulator.observers.append(edit_first)
    result = ws.apply()
    assert result.code == 1
    assert "answered 412" in result.err and "run plan again" in result.err
    ws.apply()
    converged(ws)


# faults ------------------------------------------------------------------------------


def test_a_storm_of_429_and_503_converges_without_duplicates(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    # 40% of attempts fail: with the fixture's 8 tries, one request in some 1,500 runs out of
    # them, and a run makes dozens; patient enough that every request gets through.
    monkeypatch.setattr(
        client_module, "DEFAULT_POLICY", RetryPolicy(attempts=30, base_delay=0.002, max_delay=0.02)
    )
    ws.emulator.faults.update({"rate_429": 0.3, "rate_5xx": 0.1, "retry_after": 0, "seed": 11})
    for i in range(4):
        ws.write(f"f{i}.yaml", kinesis(f"flow-{i}", [A, B], ["a.b"], stream=f"s{i}"))
    result = ws.apply()
    assert result.code == 0, result.err
    ws.emulator.faults.update({"rate_429": 0.0, "rate_5xx": 0.0})
    assert counts(ws) == {
        "connections": 5,
        "sourceConnections": 1,
        "targetConnections": 4,
        "flows": 4,
    }
    converged(ws)


@pytest.mark.parametrize(
    "path", ["/connections", "/sourceConnections", "/targetConnections", "/flows"]
)
def test_a_lost_create_response_is_adopted(workspace: Workspace, path: str) -> None:
    ws = workspace
    ws.emulator.faults.add_rule(FaultRule("lose", "POST", path))
    ws.write("orders.yaml", kinesis("orders", [A]))
    result = ws.apply()
    assert result.code == 0, result.err
    assert counts(ws) == ONE_DATAFLOW
    converged(ws)


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", "/flows"), ("POST", "/flows"), ("PATCH", "/targetConnections")]
)
def test_a_lost_reply_to_a_change_is_settled_by_reading_back(
    workspace: Workspace, method: str, path: str
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], enabled=True))
    ws.apply()
    ws.write("orders.yaml", kinesis("orders", [A, B], enabled=False, stream="v2"))
    ws.emulator.faults.add_rule(FaultRule("lose", method, path))
    result = ws.apply()
    assert result.code == 0, result.err
    assert ws.emulator.faults.rules == []  # the reply was lost
    flow = ws.flow("orders")
    assert flow["state"] == "disabled"
    converged(ws)


def test_a_lost_token_reply_is_retried_like_a_read(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    # IMS answers, then the reply is lost: asking for a token again is harmless.
    ws.emulator.faults.add_rule(FaultRule("lose", "POST", IMS_TOKEN_PATH))
    result = ws.plan("--detailed-exitcode")
    assert result.code == 2, result.err
    assert ws.emulator.faults.rules == []  # the reply was lost
    assert "Plan: 4 to create" in result.out


def test_lost_token_replies_are_retried_a_bounded_number_of_times(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.emulator.faults.add_rule(FaultRule("lose", "POST", IMS_TOKEN_PATH, times=100))
    result = ws.plan()
    assert result.code == 1
    assert "get an access token: POST " in result.err
    # The fixture's policy tries 8 times. Readers that waited for that exchange share its
    # failure; one that asks only after it (the plan reads in two threads) tries anew.
    assert "no answer after 8 tries (RemoteProtocolError" in result.err
    assert "check the network and AEP_IMS_URL" in result.err
    requests = ws.emulator.requests
    assert requests["POST"] == requests["total"] in (8, 16)  # only tokens were asked for


def test_one_failing_dataflow_does_not_stop_the_others(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a-flow", [A], stream="a"))
    ws.write("b.yaml", kinesis("b-flow", [A], stream="b"))
    # every try of the first dataflow's create fails (one at a time: a-flow is applied first)
    ws.emulator.faults.add_rule(FaultRule("500", "POST", "/flows", times=8))
    result = ws.apply("--concurrency", "1")
    assert result.code == 1
    assert "error: dataflow a-flow: create dataflow a-flow: POST" in result.err
    # the source, 2 accounts and b's target and flow; a's target was made, its flow not
    assert "Apply finished: 5 of 7 change(s) applied (1 of 2 dataflow(s)); 1 failed." in result.out
    assert [f["name"] for f in ws.resources("flows")] == ["b-flow"]
    assert ws.apply().code == 0
    converged(ws)
    assert counts(ws)["targetConnections"] == 2


# killed in the middle ----------------------------------------------------------------


# An apply of one new dataflow sends 15 requests: a token, 4 lists, 5 creates (profile base
# and source, account, target, flow), a read, the activation PATCH, the read-back of flow and
# target, and the PATCH that records the applied state. Each point below stops it somewhere.
@pytest.mark.parametrize("kill_at", [3, 6, 8, 10, 11, 12, 13, 15])
def test_a_killed_apply_converges_on_rerun(workspace: Workspace, kill_at: int) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A, B], ["a.b"]))
    env = {**os.environ, **ws.env}
    command = [sys.executable, "-m", "provisioner", "apply", "manifests", "--auto-approve"]
    process = subprocess.Popen(
        command, cwd=ws.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def kill(number: int, method: str, path: str) -> None:
        if number == ws.emulator.requests["total"] and number == kill_at:
            os.kill(process.pid, signal.SIGKILL)

    ws.emulator.requests.clear()
    ws.emulator.observers.append(kill)
    process.wait(timeout=60)
    ws.emulator.observers.clear()
    assert process.returncode == -signal.SIGKILL  # it died at request `kill_at`, mid-apply
    rerun = ws.apply()
    assert rerun.code == 0, rerun.err
    assert counts(ws) == ONE_DATAFLOW
    converged(ws)


# prune and destroy -------------------------------------------------------------------


def test_prune_deletes_only_what_the_tool_owns(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a-flow", [A], stream="a"))
    ws.write("b.yaml", kinesis("b-flow", [A], stream="b"))
    ws.apply()
    with httpx.Client(base_url=ws.url) as client:  # a dataflow someone made by hand
        foreign = Chain(Api(client), "made by hand").flow
    ws.remove("b.yaml")
    plain = ws.plan()
    assert "1 dataflow(s) managed by provisioner are in no given manifest (b-flow)" in plain.out
    pruning = ws.plan("--prune", "--detailed-exitcode")
    assert pruning.code == 2
    for line in ("- dataflow b-flow", "- target connection b-flow", "- account b-flow-account"):
        assert line in pruning.out
    assert "Warning: Destructive" in pruning.out
    assert "made by hand" not in pruning.out
    assert ws.apply("--prune").code == 0
    assert sorted(f["name"] for f in ws.resources("flows")) == ["a-flow", "made by hand"]
    assert next(f for f in ws.resources("flows") if f["id"] == foreign)
    assert ws.plan("--prune", "--detailed-exitcode").code == 0


def test_destroy_removes_flows_then_what_only_they_use(workspace: Workspace) -> None:
    ws = workspace
    ws.write("a.yaml", kinesis("a-flow", [A], stream="a", account="shared"))
    ws.write("b.yaml", kinesis("b-flow", [A], stream="b", account="shared"))
    ws.apply()
    env_without_secrets = {k: v for k, v in ws.env.items() if k not in SECRETS}
    ws.env = env_without_secrets  # destroy needs no secrets
    first = ws.run("destroy", "manifests/a.yaml", "--auto-approve")
    assert first.code == 0, first.err
    assert "- dataflow a-flow" in first.out and "- account shared" not in first.out
    assert [f["name"] for f in ws.resources("flows")] == ["b-flow"]
    second = ws.run("destroy", "manifests", "--auto-approve")
    assert second.code == 0, second.err
    assert "- account shared" in second.out and "- profile source connection" in second.out
    assert counts(ws) == {
        "connections": 0,
        "sourceConnections": 0,
        "targetConnections": 0,
        "flows": 0,
    }
    assert ws.run("destroy", "manifests", "--auto-approve").code == 0  # nothing left: fine


# import ------------------------------------------------------------------------------


def test_import_writes_a_manifest_whose_plan_only_adopts_credentials(
    workspace: Workspace,
) -> None:
    from tests.emulator_support import Api, Chain, segment

    ws = workspace
    import httpx

    with httpx.Client(base_url=ws.url) as client:
        api = Api(client)
        chain = Chain(api, "hand-made flow")
        etag = api.one(f"/flows/{chain.flow}")["etag"]
        api.patch(
            f"/flows/{chain.flow}",
            [
                {"op": "add", "path": f"{SEGMENT_SELECTORS}/-", "value": segment(A, "Buyers")},
                {
                    "op": "add",
                    "path": "/transformations/0/params/profileSelectors/selectors/-",
                    "value": {"type": "JSON_PATH", "value": {"path": "person.lastName"}},
                },
            ],
            etag,
        )
    ws.write("clash.yaml", kinesis("hand-made flow", [A]))
    clash = ws.plan()
    assert clash.code == 1 and "provisioner import --flow-id" in clash.err
    ws.remove("clash.yaml")
    result = ws.run("import", "--flow-id", chain.flow, "-o", "manifests/imported.yaml")
    assert result.code == 0, result.err
    text = (ws.root / "manifests" / "imported.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "${env:KINESIS_ACCOUNT_SECRET_KEY}" in text and "Buyers" in text
    assert ws.run("validate", "manifests").code == 0
    ws.env.update({"KINESIS_ACCOUNT_ACCESS_KEY_ID": "AKIA", "KINESIS_ACCOUNT_SECRET_KEY": "S3"})
    plan = ws.plan("--format", "json").json
    assert [(c["action"], c["type"]) for c in plan["changes"]] == [("update", "account")]
    assert [f["path"] for f in plan["changes"][0]["fields"]] == ["credentials"]
    assert ws.apply().code == 0
    converged(ws)
    assert counts(ws)["flows"] == 1


def test_import_by_name_to_stdout(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", event_hubs("orders", [A]))
    ws.apply()
    result = ws.run("import", "--name", "orders")
    assert result.code == 0
    assert "type: azure-event-hubs" in result.out and "eventHub: orders" in result.out
    assert ws.run("import", "--name", "missing").code == 1


# the confirmation prompt, on a real terminal -----------------------------------------


def run_on_terminal(ws: Workspace, answer: str) -> tuple[int, str]:
    """`provisioner apply manifests` with a pseudo-terminal as its standard input."""
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, **ws.env}
    process = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "apply", "manifests"],
        cwd=ws.root,
        env=env,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(terminal)
    os.write(controller, answer.encode() + b"\n")  # the terminal holds it until asked
    output, _ = process.communicate(timeout=60)
    os.close(controller)
    return process.returncode, output


def test_apply_asks_on_a_terminal_and_only_yes_applies(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    code, output = run_on_terminal(ws, "no")
    assert code == 1 and "apply cancelled; nothing was changed" in output
    assert "Only 'yes' will be accepted" in output
    assert ws.resources("flows") == []
    code, output = run_on_terminal(ws, "yes")
    assert code == 0, output
    assert "Apply finished: 4 of 4 change(s) applied (1 of 1 dataflow(s)); 0 failed." in output
    converged(ws)
