"""`provisioner status` and `apply --wait-healthy`, end to end over loopback HTTP against
the emulator: its clock moved with `advance`, its runs failed with run faults, a dataflow
disabled behind the tool's back through its API."""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from provisioner.cli import status as status_module
from provisioner.cli.offline import status_schema_text
from provisioner.emulator import EmulatorApp
from provisioner.health.platform_time import Clock, platform_clock
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import ApiCallError
from tests.emulator_support import Api
from tests.workspace import AUDIENCES, SECRETS, Outcome, Workspace, kinesis

ROOT = Path(__file__).parent.parent
FIRST, SECOND = AUDIENCES[0], AUDIENCES[1]
# A run starts a minute before the hour `advance` ends, so right after one its age is a
# minute, give or take the second the platform's Date header is rounded to.
JUST_RAN = r"(59s|1m) ago"
CONNECTOR_CODE = "CONNECTOR-1001-500"


def status(workspace: Workspace, *args: str) -> Outcome:
    return workspace.run("status", "manifests", *args)


def line_of(result: Outcome, name: str) -> str:
    """The status line of dataflow `name`."""
    found = [
        line
        for line in result.out.splitlines()
        if re.match(rf"\s+(ok|FAIL)\s+{re.escape(name)}\s", line)
    ]
    assert len(found) == 1, result.out
    return found[0]


def fail_runs_of(workspace: Workspace, emulator: EmulatorApp, name: str) -> None:
    """Every later run of `name` fails: its destination cannot be reached."""
    target = workspace.flow(name)["targetConnectionIds"][0]
    emulator.runs.faults.set(target, "unreachable")


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "schemas" / "status.schema.json").read_text())
    return loaded


# one line per manifest ----------------------------------------------------------------------


def test_a_dataflow_whose_runs_succeed_is_healthy(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    emulator.advance()
    result = status(workspace)
    assert result.code == 0, result.out + result.err
    assert re.fullmatch(
        rf"\s+ok\s+orders\s+enabled\s+in step\s+success {JUST_RAN}", line_of(result, "orders")
    )
    assert "runs over the last 24h, ages by the platform's clock" in result.out
    assert result.out.rstrip().endswith("All 1 dataflow(s) healthy.")
    assert "Details" not in result.out  # nothing needed a closer look


def test_a_failing_dataflow_shows_its_error_code_and_message(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST, SECOND]))
    assert workspace.apply().code == 0
    emulator.advance()
    fail_runs_of(workspace, emulator, "orders")
    emulator.advance()
    result = status(workspace)
    assert result.code == 2, result.out + result.err
    line = line_of(result, "orders")
    assert re.match(rf"\s+FAIL\s+orders\s+enabled\s+in step\s+failed {JUST_RAN}", line)
    assert line.endswith("the last run failed; 50.0% of identities failed")
    details = result.out.split("Details (failing first):")[1]
    assert f"error: {CONNECTOR_CODE} (" in details
    assert "stream 'orders' (us-east-1) could not be reached" in details
    # one success then one failure, oldest first, in ASCII: the test's output is no terminal
    assert "runs, last 24h, oldest first: +x  2 run(s): 1 succeeded, 1 failed" in details
    assert re.search(
        r"identities: (\d+) activated, 0 excluded, \1 failed \(50\.0% failed\)", details
    )
    assert "1 of 1 dataflow(s) unhealthy: orders; 0 healthy." in result.out

    report = status(workspace, "--format", "json").json
    (flow,) = report["dataflows"]
    assert [f["rule"] for f in flow["findings"]] == ["failed-run", "failed-ratio"]
    assert CONNECTOR_CODE in flow["findings"][0]["message"]
    assert flow["window"]["errors"][0]["code"] == CONNECTOR_CODE
    assert [r["outcome"] for r in flow["window"]["runs"]] == ["success", "failed"]


def test_no_run_for_longer_than_stale_after_is_stale(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    emulator.advance()
    assert status(workspace).code == 0
    result = status(workspace, "--stale-after", "30s")
    assert result.code == 2
    assert re.search(r"no run for (59s|1m) \(limit 30s\)$", line_of(result, "orders"))
    assert "runs, last 24h, oldest first: +  1 run(s): 1 succeeded, 0 failed" in result.out


def test_disabled_behind_the_tools_back_goes_stale_and_shows_the_pending_change(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    with httpx.Client(base_url=workspace.url) as raw:
        flow = workspace.flow("orders")["id"]
        assert Api(raw).post(f"/flows/{flow}/action", params={"op": "disable"}).status_code == 200
    emulator.advance(4)  # a disabled dataflow is not run
    result = status(workspace)
    assert result.code == 2
    line = line_of(result, "orders")
    assert re.match(r"\s+FAIL\s+orders\s+disabled\s+changes pending\s+never ran\s", line)
    assert re.search(r"never ran in the (3h59m|4h|4h01m) since it was created \(limit 3h\)$", line)
    assert "changes pending: update dataflow" in result.out


def test_disabled_on_purpose_and_never_run_dataflows_are_healthy(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("a-paused.yaml", kinesis("paused", [FIRST], enabled=False, stream="p"))
    workspace.write("b-fresh.yaml", kinesis("fresh", [FIRST], stream="f"))
    workspace.write("c-empty.yaml", kinesis("empty", stream="e"))
    assert workspace.apply().code == 0
    result = status(workspace)
    assert result.code == 0, result.out + result.err
    assert re.fullmatch(
        r"\s+ok\s+paused\s+disabled\s+in step\s+never ran\s+disabled on purpose",
        line_of(result, "paused"),
    )
    assert re.fullmatch(
        r"\s+ok\s+fresh\s+enabled\s+in step\s+never ran\s+never ran", line_of(result, "fresh")
    )
    assert line_of(result, "empty").endswith("no audiences: nothing to deliver")
    # hours later: the disabled and the empty one are still not run, and still fine
    emulator.advance(5)
    later = status(workspace)
    assert later.code == 0
    assert line_of(later, "paused").endswith("disabled on purpose")
    assert line_of(later, "empty").endswith("no audiences: nothing to deliver")
    assert re.search(rf"success {JUST_RAN}", line_of(later, "fresh"))


def test_a_manifest_whose_dataflow_does_not_exist_is_unhealthy(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    result = status(workspace)
    assert result.code == 2
    assert re.fullmatch(
        r"\s+FAIL\s+orders\s+missing\s+changes pending\s+-\s+no such dataflow: `apply` creates it",
        line_of(result, "orders"),
    )


def test_lines_follow_the_manifests_and_the_summary_names_the_failing_first(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("a.yaml", kinesis("alpha", [FIRST], stream="a"))
    workspace.write("b.yaml", kinesis("beta", [FIRST], stream="b"))
    workspace.write("c.yaml", kinesis("gamma", [FIRST], stream="c"))
    assert workspace.apply().code == 0
    fail_runs_of(workspace, emulator, "gamma")
    emulator.advance()
    workspace.write("d.yaml", kinesis("delta", [FIRST], stream="d"))
    result = status(workspace, "--details")
    assert result.code == 2
    names = [m.group(2) for m in re.finditer(r"^\s+(ok|FAIL)\s+(\w+)\s", result.out, re.M)]
    assert names == ["alpha", "beta", "gamma", "delta"]
    detailed = re.findall(r"^  (\w+) \(id ", result.out, re.M)
    assert detailed == ["gamma", "alpha", "beta"]  # failing first; delta has no dataflow
    assert "2 of 4 dataflow(s) unhealthy: gamma, delta; 2 healthy" in result.out


def test_a_change_in_a_manifest_is_pending_but_not_unhealthy(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    emulator.advance()
    workspace.write("orders.yaml", kinesis("orders", [FIRST, SECOND]))
    result = status(workspace)
    assert result.code == 0
    assert re.match(
        r"\s+ok\s+orders\s+enabled\s+changes pending\s+success", line_of(result, "orders")
    )
    assert "1 with changes pending (see `provisioner plan`)" in result.out
    (flow,) = status(workspace, "--format", "json").json["dataflows"]
    assert (flow["in_step"], flow["pending"]) == (False, ["update dataflow"])


def test_status_needs_no_destination_secrets(workspace: Workspace, emulator: EmulatorApp) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    emulator.advance()
    for name in SECRETS:
        del workspace.env[name]
    result = status(workspace)
    assert result.code == 0, result.err
    # the account is judged on all but the secret values: in step
    assert re.match(r"\s+ok\s+orders\s+enabled\s+in step\s", line_of(result, "orders"))
    assert workspace.plan().code == 1  # plan, for contrast, needs them


def test_a_changed_secret_reference_is_pending_without_the_secrets(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    workspace.write("orders.yaml", kinesis("orders", [FIRST], secret="ROTATED_SECRET"))
    (flow,) = status(workspace, "--format", "json").json["dataflows"]
    assert flow["pending"] == ["update account orders-account: credentials.secretKey"]


def test_status_that_cannot_be_read_exits_1(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    with httpx.Client() as probe, pytest.raises(httpx.ConnectError):
        probe.get("http://127.0.0.1:9/")  # nothing listens there
    result = status(workspace, "--platform-url", "http://127.0.0.1:9")
    assert result.code == 1
    assert result.err.startswith("error: ")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--since", "24"), "'24' has no unit: write 24s, 24m, 24h or 24d"),
        (("--stale-after", "1.5h"), "not a whole number of a unit"),
        (("--since", "2w"), "unknown unit 'w'"),
    ],
)
def test_a_duration_that_cannot_be_read_is_refused_before_anything_is_read(
    workspace: Workspace, option: tuple[str, ...], said: str
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    result = status(workspace, *option)
    assert result.code == 1
    assert said in result.err


# reads stay cheap ---------------------------------------------------------------------------


def runs_reads(workspace: Workspace) -> list[list[str]]:
    assert workspace.log is not None
    return [e.query.get("property", []) for e in workspace.log.entries if e.path == "/runs"]


def test_runs_are_read_only_for_the_dataflows_that_need_detail(
    recorded_workspace: Workspace, emulator: EmulatorApp
) -> None:
    ws = recorded_workspace
    for name in ("alpha", "beta", "gamma"):
        ws.write(f"{name}.yaml", kinesis(name, [FIRST], stream=name))
    assert ws.apply().code == 0
    fail_runs_of(ws, emulator, "beta")
    emulator.advance()
    assert ws.log is not None
    ws.log.entries.clear()
    assert status(ws).code == 2
    # one list of the sandbox's failed runs, then the runs of the one that failed
    failures, (flow_filter, since) = runs_reads(ws)
    assert failures == [
        "metrics.statusSummary.status==failed,Failed,partialSuccess",
        since,
    ]
    assert flow_filter == f"flowId=={ws.flow('beta')['id']}"
    # the window starts 24h before the platform's now
    assert int(since.removeprefix("createdAt>=")) == pytest.approx(
        emulator.store.now_ms() - 24 * 3_600_000, abs=5_000
    )
    ws.log.entries.clear()
    assert status(ws, "--details").code == 2
    assert sorted(r[0] for r in runs_reads(ws)[1:]) == sorted(
        f"flowId=={ws.flow(n)['id']}" for n in ("alpha", "beta", "gamma")
    )


def test_a_failure_earlier_in_the_window_is_found_though_the_last_run_succeeded(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    target = workspace.flow("orders")["targetConnectionIds"][0]
    emulator.runs.faults.set(target, "rejected", runs=1)  # the next run fails, then no more
    emulator.advance(2)
    result = status(workspace)
    assert result.code == 2
    line = line_of(result, "orders")
    assert re.search(rf"success {JUST_RAN}\s+50\.0% of identities failed$", line)
    assert "runs, last 24h, oldest first: x+  2 run(s): 1 succeeded, 1 failed" in result.out
    assert "rejected the connection's credentials" in result.out
    assert status(workspace, "--max-failed-ratio", "0.5").code == 0


# formats ------------------------------------------------------------------------------------


def test_the_json_has_a_format_version_and_validates_against_the_published_schema(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    workspace.write("a.yaml", kinesis("alpha", [FIRST], stream="a"))
    workspace.write("b.yaml", kinesis("beta", [FIRST], stream="b"))
    assert workspace.apply().code == 0
    fail_runs_of(workspace, emulator, "beta")
    emulator.advance()
    workspace.write("c.yaml", kinesis("gone", [FIRST], stream="c"))
    result = status(workspace, "--format", "json", "--details")
    assert result.code == 2
    report = result.json
    jsonschema.validate(report, schema())
    assert report["format_version"] == "1"
    assert report["clock"] == "platform"
    assert report["healthy"] is False
    assert report["summary"]["failing"] == ["beta", "gone"]
    assert [d["health"] for d in report["dataflows"]] == ["healthy", "unhealthy", "unhealthy"]
    assert report["settings"] == {
        "since": 86400,
        "stale_after": 10800,
        "max_failed_ratio": 0.05,
        "details": True,
    }


def test_the_status_schema_file_is_current() -> None:
    committed = (ROOT / "schemas" / "status.schema.json").read_text(encoding="utf-8")
    assert committed == status_schema_text(), (
        "run: provisioner schema --status > schemas/status.schema.json"
    )


def test_schema_status_prints_the_schema(workspace: Workspace) -> None:
    result = workspace.run("schema", "--status")
    assert result.code == 0
    assert result.out == status_schema_text()
    assert workspace.run("schema", "--status", "--plan").code == 1


def test_github_annotations_name_each_unhealthy_dataflow_on_its_manifest(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("a.yaml", kinesis("alpha", [FIRST], stream="a"))
    workspace.write("b.yaml", kinesis("beta", [FIRST], stream="b"))
    assert workspace.apply().code == 0
    fail_runs_of(workspace, emulator, "beta")
    emulator.advance()
    workspace.write("a.yaml", kinesis("alpha", [FIRST, SECOND], stream="a"))
    result = status(workspace, "--format", "github")
    assert result.code == 2
    commands = [line for line in result.out.splitlines() if line.startswith("::")]
    assert commands == [
        "::warning file=manifests/a.yaml,line=2,title=provisioner status%3A alpha::"
        "alpha: changes pending (update dataflow)",
        "::error file=manifests/b.yaml,line=2,title=provisioner status%3A beta::"
        "beta: the last run failed; 100.0%25 of identities failed",  # '%' escaped
    ]
    assert re.search(r"^\s+FAIL\s+beta\s", result.out, re.M)  # and the report, for the log


def test_markdown_has_a_table_and_the_failing_dataflows_details(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    fail_runs_of(workspace, emulator, "orders")
    emulator.advance()
    result = status(workspace, "--format", "markdown")
    assert result.code == 2
    assert result.out.startswith("### provisioner status: 1 of 1 dataflow(s) unhealthy\n")
    assert "| **unhealthy** | `orders` | enabled | in step | failed " in result.out
    assert "#### orders (id `" in result.out
    assert f"- error `{CONNECTOR_CODE}` (" in result.out


# apply --wait-healthy -----------------------------------------------------------------------


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_module, "FIRST_POLL", 0.02)
    monkeypatch.setattr(status_module, "MAX_POLL", 0.05)


@contextmanager
def hourly(emulator: EmulatorApp, every: float = 0.1, hours: int = 20) -> Iterator[None]:
    """The emulator's clock advanced an hour every `every` seconds, up to `hours` times,
    while the block runs (as the platform runs streaming dataflows hourly)."""
    stop = threading.Event()

    def tick() -> None:
        for _ in range(hours):
            if stop.wait(every):
                return
            emulator.advance()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.mark.usefixtures("quick_polls")
def test_wait_healthy_returns_once_the_changed_dataflows_runs_succeed(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    workspace.write("paused.yaml", kinesis("paused", [FIRST], enabled=False, stream="p"))
    with hourly(emulator):
        result = workspace.apply("--wait-healthy")
    assert result.code == 0, result.out + result.err
    assert "Waiting up to 75m for a successful run of 1 dataflow(s)" in result.err
    assert result.out.rstrip().endswith(
        "All 1 dataflow(s) delivered: a successful run after the apply."
    )
    assert workspace.flow("orders")["lastRunDetails"]["state"] == "success"


@pytest.mark.usefixtures("quick_polls")
def test_wait_healthy_times_out_with_exit_2_naming_what_it_waited_for(
    workspace: Workspace,
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    result = workspace.apply("--wait-healthy=1s")
    assert result.code == 2
    assert "Apply finished: " in result.out
    assert result.err.rstrip().endswith(
        "error: timed out after 1s waiting for a successful run of: orders (no run since the "
        "apply); see `provisioner status`"
    )


@pytest.mark.usefixtures("quick_polls")
def test_wait_healthy_stops_at_a_failed_run_with_its_error(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    assert workspace.apply().code == 0
    fail_runs_of(workspace, emulator, "orders")
    workspace.write("orders.yaml", kinesis("orders", [FIRST, SECOND]))
    with hourly(emulator):
        result = workspace.apply("--wait-healthy=10m")
    assert result.code == 2
    assert f"error: dataflow orders: a run after the apply failed: {CONNECTOR_CODE}: " in result.err
    assert "could not be reached" in result.err
    assert len(emulator.runs.entries("prod", [])) < 5  # it did not wait out the timeout


@pytest.mark.usefixtures("quick_polls")
def test_wait_healthy_does_not_wait_for_disabled_or_empty_dataflows(
    workspace: Workspace,
) -> None:
    workspace.write("paused.yaml", kinesis("paused", [FIRST], enabled=False, stream="p"))
    workspace.write("empty.yaml", kinesis("empty", stream="e"))
    result = workspace.apply("--wait-healthy=1s")
    assert result.code == 0, result.err
    assert "Nothing to wait for: no dataflow changed is enabled with audiences." in result.err


def test_wait_healthy_written_before_the_paths_says_where_the_timeout_goes(
    workspace: Workspace,
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))
    result = workspace.run("apply", "--auto-approve", "--wait-healthy", "manifests")
    assert result.code == 1
    assert "'manifests' is not a duration" in result.err
    assert "--wait-healthy=TIMEOUT" in result.err
    assert workspace.resources("flows") == []


# the benchmark's machinery ------------------------------------------------------------------


def test_the_status_benchmark_reads_runs_only_for_the_failing_on_a_tiny_fleet(
    tmp_path: Path,
) -> None:
    from benchmarks.fleet import Options
    from benchmarks.status import render, run

    options = Options(flows=6, latency_ms=0, timeout=120)
    report = run(tmp_path, options, failing=2, progress=lambda _: None)
    steps = report.steps
    assert [s.code for s in steps.values()] == [0, 2, 2], render(report)
    # beyond the plan's reads: the clock, the sandbox's failed runs, the 2 failing's runs
    assert steps["status"].requests == steps["plan"].requests + 1 + 1 + 2
    assert steps["details"].requests == steps["plan"].requests + 1 + 1 + 6
    assert "status beyond the no-op plan: 4 request(s)" in render(report)


def test_under_github_actions_the_status_annotations_reach_the_runner(
    workspace: Workspace,
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST]))  # never applied: unhealthy
    workspace.env["GITHUB_ACTIONS"] = "true"
    result = status(workspace, "--format", "github")
    assert result.code == 2
    assert result.out.startswith("::error file=manifests/orders.yaml,line=2,")


# the platform's clock -----------------------------------------------------------------------


class _OneAnswer:
    """A client that answers every call the same way (or raises)."""

    def __init__(self, answer: httpx.Response | Exception) -> None:
        self.answer = answer

    def call(self, *args: Any, **kwargs: Any) -> httpx.Response:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def clock_of(answer: httpx.Response | Exception) -> Clock:
    return platform_clock(cast(PlatformClient, _OneAnswer(answer)))


def test_the_clock_is_the_platforms_date_header() -> None:
    ahead = time.time() + 5 * 3600  # the emulator, advanced five hours
    date = email.utils.formatdate(ahead, usegmt=True)
    clock = clock_of(httpx.Response(200, headers={"Date": date}))
    assert clock.source == "platform"
    assert clock.now() / 1000 == pytest.approx(ahead, abs=2)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200),
        httpx.Response(200, headers={"Date": "yesterday"}),
        httpx.Response(200, headers={"Date": "Tue, 01 Jan 2030 00:00:00"}),  # no zone
        ApiCallError("read", "GET", "/flowSpecs/x", 404, "", "", "", 1),
    ],
)
def test_without_a_date_from_the_platform_the_clock_is_this_machines(
    answer: httpx.Response | Exception,
) -> None:
    clock = clock_of(answer)
    assert clock.source == "local"
    assert clock.now() / 1000 == pytest.approx(time.time(), abs=2)
