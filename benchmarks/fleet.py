"""Benchmark: plan and apply a fleet of N dataflows, against a per-object script baseline.

Serves the emulator with `provisioner emulator serve --latency-ms L` in its own process,
seeds N managed dataflows (half Amazon Kinesis, half Azure Event Hubs, on 10 shared
accounts, 5 audiences and 3 attributes each) exactly as `provisioner apply` makes them,
writes their N manifests (one file each) to a temporary folder, then measures, each step in
its own process with the real command:

  plan      a no-op `provisioner plan --detailed-exitcode` (exit 0 expected)
  baseline  a script that lists the dataflows, then GETs each dataflow, its target
            connection and its account one at a time (3 requests a dataflow)
  apply     `provisioner apply --auto-approve` adding one audience to every dataflow
  storm     the same under a storm: 30% of requests answered 429 with `Retry-After: 1`;
            then checks there is no duplicate and that a no-op plan follows
  --help    `provisioner --help`, the median of several starts

For each: the wall time, the requests the emulator answered, requests per dataflow (changed
ones for apply), the average number of requests in flight (measured in the emulator: the
sum of request durations divided by the wall time), the process's peak memory and its CPU
time. Goals (for 1,000 dataflows at 50 ms) are printed beside.

    python benchmarks/fleet.py [--flows 1000] [--latency-ms 50] [--quick] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provisioner.emulator.catalog import EVENT_HUBS_SPEC_ID, KINESIS_SPEC_ID  # noqa: E402
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG  # noqa: E402
from provisioner.emulator.store import Store  # noqa: E402
from provisioner.platform.ids import (  # noqa: E402
    FLOW_SERVICE_PATH,
)
from tests.emulator_support import (  # noqa: E402
    ADMIN_AUTH,
    get_token,
    platform_target,
    start_serve_process,
)
from tests.fleet import FLEET_ENV, seed_fleet  # noqa: E402

HELP_RUNS = 7
PAGE = 100

STEPS = frozenset({"plan", "baseline", "apply", "storm", "help"})

# The open issue's goals, for 1,000 dataflows at 50 ms of latency.
GOAL_PLAN_SECONDS = 1.9
GOAL_BASELINE_RATIO = 80.0
GOAL_APPLY_SECONDS = 20.0
GOAL_APPLY_REQUESTS_PER_FLOW = 3.0
GOAL_APPLY_IN_FLIGHT = 12.0
GOAL_STORM_RATIO = 2.0
GOAL_HELP_SECONDS = 0.25


@dataclass(frozen=True)
class Options:
    flows: int = 1000
    latency_ms: float = 50.0
    accounts: int = 10
    audiences: int = 5
    attributes: int = 3
    storm_rate: float = 0.3
    retry_after: int = 1
    timeout: float = 900.0  # seconds, per step
    help_runs: int = HELP_RUNS
    steps: frozenset[str] = STEPS


# the fleet -----------------------------------------------------------------------------


def _audience_id(flow: int, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fleet-audience-{flow}-{index}"))


ATTRIBUTE_PATHS = (
    "person.lastName",
    "personalEmail.address",
    "person.name.firstName",
    "mobilePhone.number",
    "homeAddress.city",
)


def manifest_text(index: int, options: Options, extra_audiences: int = 0) -> str:
    """Dataflow `index` of the fleet: the first half Kinesis, the second Event Hubs; each
    half shares half of the accounts."""
    kinesis = index < (options.flows + 1) // 2
    per_type = max(1, options.accounts // 2)
    account = f"{'kinesis' if kinesis else 'eventhubs'}-account-{index % per_type:02d}"
    lines = ["version: 1", f"name: fleet-{index:05d}", "destination:"]
    if kinesis:
        lines += [
            "  type: amazon-kinesis",
            f"  account: {account}",
            "  region: us-east-1",
            f"  stream: stream-{index:05d}",
            "  credentials:",
            "    accessKeyId: ${env:FLEET_KEY_ID}",
            "    secretKey: ${env:FLEET_SECRET}",
        ]
    else:
        lines += [
            "  type: azure-event-hubs",
            f"  account: {account}",
            f"  namespace: fleet-namespace-{index % per_type:02d}",
            f"  eventHub: hub-{index:05d}",
            "  credentials:",
            "    sasKeyName: ${env:FLEET_KEY_ID}",
            "    sasKey: ${env:FLEET_SECRET}",
        ]
    lines.append("audiences:")
    for j in range(options.audiences + extra_audiences):
        lines += [f"  - id: {_audience_id(index, j)}", f"    name: Audience {j}"]
    lines.append("attributes:")
    lines += [f"  - {path}" for path in ATTRIBUTE_PATHS[: options.attributes]]
    return "\n".join(lines) + "\n"


def write_manifests(folder: Path, options: Options, extra_audiences: int = 0) -> None:
    """Writes (or rewrites) one manifest file per dataflow."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(options.flows):
        text = manifest_text(index, options, extra_audiences)
        (folder / f"fleet-{index:05d}.yaml").write_text(text, encoding="utf-8")


def expected_accounts(options: Options) -> int:
    per_type = max(1, options.accounts // 2)
    kinesis = (options.flows + 1) // 2
    return min(per_type, kinesis) + min(per_type, options.flows - kinesis)


# child processes -------------------------------------------------------------------------


@dataclass
class ChildRun:
    code: int | None  # None: killed at the timeout
    wall: float
    peak_mib: float
    cpu: float
    stdout: str
    stderr: str


# Runs argv[2:] and writes its exit code, wall time, peak RSS and CPU time to argv[1]. A
# child's ru_maxrss starts from the memory of the process that forked it, so the benchmark,
# holding the seeded fleet, forks this small interpreter, which forks the command.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as out:
    code = os.waitstatus_to_exitcode(status)
    out.write(f"{code} {wall} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux


def run_child(command: Sequence[str], env: dict[str, str], cwd: Path, timeout: float) -> ChildRun:
    """Runs `command` in `cwd`; its own wall time, peak memory and CPU time (wait4)."""
    paths = {name: cwd / f"{name}.txt" for name in ("stdout", "stderr", "usage")}
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(paths["usage"]), *command]
    with paths["stdout"].open("wb") as out, paths["stderr"].open("wb") as err:
        process = subprocess.Popen(
            launcher, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and the command
            process.wait()
    output = {name: paths[name].read_text(errors="replace") for name in ("stdout", "stderr")}
    if not paths["usage"].exists():
        return ChildRun(None, timeout, 0.0, 0.0, output["stdout"], output["stderr"])
    code, wall, maxrss, cpu = paths["usage"].read_text().split()
    return ChildRun(
        code=int(code),
        wall=float(wall),
        peak_mib=int(maxrss) * _MAXRSS_UNIT / 2**20,
        cpu=float(cpu),
        stdout=output["stdout"],
        stderr=output["stderr"],
    )


def cli_command() -> list[str]:
    """The installed `provisioner` command if there is one, as users start it."""
    script = Path(sys.executable).parent / "provisioner"
    return [str(script)] if script.exists() else [sys.executable, "-m", "provisioner"]


# the per-object baseline (runs in its own process) ---------------------------------------


def baseline_read(url: str, token: str) -> int:
    """What a script does without list filters: every dataflow, then its target connection
    and its account, one GET by id at a time. Returns the dataflows read."""
    headers = _headers(token)
    with httpx.Client(base_url=url + FLOW_SERVICE_PATH, headers=headers, timeout=60) as client:
        flows = _list_all(client, "/flows")
        for listed in flows:
            flow = _one(client, f"/flows/{listed['id']}")
            target = _one(client, f"/targetConnections/{flow['targetConnectionIds'][0]}")
            _one(client, f"/connections/{target['baseConnectionId']}")
    return len(flows)


def _headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": DEFAULT_CLIENT_ID,
        "x-gw-ims-org-id": DEFAULT_ORG,
        "x-sandbox-name": "prod",
    }


def _one(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    response.raise_for_status()
    item: dict[str, Any] = response.json()["items"][0]
    return item


def _list_all(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] | None = {"limit": PAGE}
    for _ in range(100_000):  # bounded: a page at a time until there is no next page
        response = client.get(path, params=params)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        next_href = page.get("_links", {}).get("next", {}).get("href")
        if not next_href:
            break
        path, _, query = next_href.partition("?")
        params = dict(pair.split("=", 1) for pair in query.split("&"))
    return items


# measuring -----------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    wall: float
    requests: int
    dataflows: int  # read (plan, baseline) or changed (apply); 0: not applicable
    request_seconds: float
    peak_mib: float
    cpu: float
    code: int | None
    note: str = ""
    object_requests: int = 0  # requests about one object (/flows/ID…), not lists

    @property
    def per_dataflow(self) -> float | None:
        """Requests per dataflow: for an apply, those about one object (a run's shared
        reads, the lists and the audience lookups, are not any dataflow's)."""
        if not self.dataflows:
            return None
        spent = self.object_requests if self.name.startswith("apply") else self.requests
        return spent / self.dataflows

    @property
    def in_flight(self) -> float:
        return self.request_seconds / self.wall if self.wall > 0 else 0.0


@dataclass(frozen=True)
class LiveCounts:
    """What the sandbox holds; everything in it is the fleet's."""

    flows: int
    flow_names: int  # distinct names
    targets: int
    accounts: int


@dataclass
class Report:
    options: Options
    steps: dict[str, Step] = field(default_factory=dict)
    after_storm: LiveCounts | None = None

    @property
    def plan_after_storm(self) -> int | None:
        """The exit code of the plan after the storm (0: a no-op)."""
        step = self.steps.get("plan-after-storm")
        return step.code if step else None

    @property
    def no_duplicate(self) -> bool:
        counts, flows = self.after_storm, self.options.flows
        return counts is not None and counts == LiveCounts(
            flows, flows, flows, expected_accounts(self.options)
        )


class Bench:
    """The served emulator, the manifests and the environment the CLI runs in."""

    def __init__(self, work: Path, url: str, options: Options) -> None:
        self.work = work
        self.url = url
        self.options = options
        self.manifests = work / "manifests"
        self.admin = httpx.Client(base_url=url, timeout=60, auth=ADMIN_AUTH)
        self.token = get_token(self.admin).json()["access_token"]
        target = platform_target(url)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AEP_") and k != "CI"},
            **FLEET_ENV,
            "AEP_PLATFORM_URL": url,
            "AEP_IMS_URL": url,
            "AEP_CLIENT_ID": target.client_id or "",
            "AEP_CLIENT_SECRET": target.client_secret or "",
            "AEP_ORG_ID": target.org,
        }
        self._runs = 0

    def close(self) -> None:
        self.admin.close()

    def faults(self, **changes: Any) -> None:
        self.admin.put("/emulator/faults", json=changes).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.admin.get("/emulator/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def child(self, command: Sequence[str], env: dict[str, str] | None = None) -> ChildRun:
        """A child in a fresh working folder with a fresh cache folder: nothing warm."""
        self._runs += 1
        cwd = self.work / f"run-{self._runs:02d}"
        (cwd / "cache").mkdir(parents=True)
        merged = {**(env or self.env), "XDG_CACHE_HOME": str(cwd / "cache")}
        return run_child(command, merged, cwd, self.options.timeout)

    def measure(
        self,
        name: str,
        command: Sequence[str],
        dataflows: Callable[[ChildRun], int],
        env: dict[str, str] | None = None,
    ) -> Step:
        self.admin.post("/emulator/stats/reset").raise_for_status()
        run = self.child(command, env)
        stats = self.stats()
        note = "" if run.code is not None else f"killed after {self.options.timeout:.0f} s"
        if run.code not in (0, None) and not note:
            lines = (run.stdout + run.stderr).strip().splitlines()
            note = f"exit {run.code}: {lines[-1] if lines else ''}"[:120]
        return Step(
            name=name,
            wall=run.wall,
            requests=int(stats["requests"].get("total", 0)),
            object_requests=int(stats["requests"].get("one object", 0)),
            dataflows=dataflows(run),
            request_seconds=float(stats["in_flight"]["request_seconds"]),
            peak_mib=run.peak_mib,
            cpu=run.cpu,
            code=run.code,
            note=note,
        )

    def plan(self, name: str = "plan (no-op)") -> Step:
        command = [*cli_command(), "plan", "--detailed-exitcode", str(self.manifests)]
        step = self.measure(name, command, lambda _: self.options.flows)
        if step.code == 2 and not step.note:
            step.note = "changes pending: not a no-op"
        return step

    def baseline(self) -> Step:
        command = [sys.executable, str(Path(__file__).resolve()), "--baseline-of", self.url]
        env = {**self.env, "BENCH_TOKEN": self.token}  # a script has its token already
        return self.measure("baseline (per object)", command, _read_count, env)

    def apply(self, name: str) -> Step:
        command = [*cli_command(), "apply", "--auto-approve", str(self.manifests)]
        return self.measure(name, command, _changed_count)

    def help(self) -> Step:
        runs = [self.child([*cli_command(), "--help"]) for _ in range(self.options.help_runs)]
        failed = [r for r in runs if r.code != 0]
        return Step(
            name=f"--help (median of {len(runs)})",
            wall=statistics.median(r.wall for r in runs),
            requests=0,
            dataflows=0,
            request_seconds=0.0,
            peak_mib=max(r.peak_mib for r in runs),
            cpu=statistics.median(r.cpu for r in runs),
            code=failed[0].code if failed else 0,
        )

    def live_counts(self) -> LiveCounts:
        """Every dataflow, target connection and destination account in the sandbox."""
        headers = _headers(self.token)
        with httpx.Client(base_url=self.url + FLOW_SERVICE_PATH, headers=headers) as client:
            flows = _list_all(client, "/flows")
            targets = _list_all(client, "/targetConnections")
            connections = _list_all(client, "/connections")
        destination_specs = {KINESIS_SPEC_ID, EVENT_HUBS_SPEC_ID}
        return LiveCounts(
            flows=len(flows),
            flow_names=len({f["name"] for f in flows}),
            targets=len(targets),
            accounts=sum(c["connectionSpec"]["id"] in destination_specs for c in connections),
        )


def _read_count(run: ChildRun) -> int:
    match = re.search(r"read (\d+) dataflows", run.stdout)
    return int(match.group(1)) if match else 0


def _changed_count(run: ChildRun) -> int:
    match = re.search(r"Plan: (\d+) to create, (\d+) to update, (\d+) to replace", run.stdout)
    return sum(int(n) for n in match.groups()) if match else 0


@contextmanager
def served_fleet(work: Path, options: Options) -> Iterator[Bench]:
    """The emulator served in its own process with the seeded fleet, and its manifests."""
    write_manifests(work / "manifests", options)
    store = Store(work / "emulator.db")
    seed_fleet(store, work / "manifests")
    store.close()
    server, url = start_serve_process(
        "--db", str(work / "emulator.db"), "--latency-ms", str(options.latency_ms)
    )
    bench = Bench(work, url, options)
    try:
        yield bench
    finally:
        bench.close()
        server.terminate()
        server.wait(timeout=10)


def run(work: Path, options: Options, progress: Callable[[str], None] = print) -> Report:
    """Every step, in order, on a fleet served from `work`."""
    report = Report(options)
    with served_fleet(work, options) as bench:

        def record(key: str, step: Step) -> None:
            report.steps[key] = step
            progress(f"  {step.name}: {step.wall:.2f} s, {step.requests} requests {step.note}")

        wanted = options.steps
        if "plan" in wanted:
            record("plan", bench.plan())
        if "baseline" in wanted:
            record("baseline", bench.baseline())
        added = 0  # audiences added to every manifest so far
        if "apply" in wanted:
            added += 1
            write_manifests(bench.manifests, options, extra_audiences=added)
            record("apply", bench.apply("apply (+1 audience)"))
        if "storm" in wanted:
            added += 1
            write_manifests(bench.manifests, options, extra_audiences=added)
            bench.faults(rate_429=options.storm_rate, retry_after=options.retry_after, seed=1)
            try:
                record("storm", bench.apply(f"apply, {options.storm_rate:.0%} 429 storm"))
            finally:
                bench.faults(rate_429=0.0)
            report.after_storm = bench.live_counts()
            record("plan-after-storm", bench.plan("plan after the storm"))
        if "help" in wanted:
            record("help", bench.help())
    return report


# the report ------------------------------------------------------------------------------


def _goal(*parts: tuple[bool, str]) -> str:
    """Each part of a goal marked met (ok) or missed (MISS)."""
    return "; ".join(f"{'ok' if met else 'MISS'} {text}" for met, text in parts)


def goals(report: Report) -> dict[str, str]:
    """The goal beside each step, met or missed."""
    steps = report.steps
    plan, baseline, apply, storm = (steps.get(k) for k in ("plan", "baseline", "apply", "storm"))
    out: dict[str, str] = {}
    if plan:
        out["plan"] = _goal((plan.wall <= GOAL_PLAN_SECONDS, f"<= {GOAL_PLAN_SECONDS} s"))
    if plan and baseline:
        ratio = baseline.wall / plan.wall
        out["baseline"] = _goal(
            (ratio >= GOAL_BASELINE_RATIO, f"plan >= {GOAL_BASELINE_RATIO:.0f}x faster")
        )
    if apply:
        per_flow = apply.per_dataflow or float("inf")
        out["apply"] = _goal(
            (apply.wall <= GOAL_APPLY_SECONDS, f"<= {GOAL_APPLY_SECONDS:.0f} s"),
            (
                per_flow <= GOAL_APPLY_REQUESTS_PER_FLOW,
                f"<= {GOAL_APPLY_REQUESTS_PER_FLOW:.0f} req/dataflow",
            ),
            (apply.in_flight >= GOAL_APPLY_IN_FLIGHT, f">= {GOAL_APPLY_IN_FLIGHT:.0f} in flight"),
        )
    if apply and storm:
        out["storm"] = _goal(
            (storm.wall <= GOAL_STORM_RATIO * apply.wall, f"<= {GOAL_STORM_RATIO:.0f}x calm apply"),
            (report.no_duplicate, "no duplicate"),
        )
    if "plan-after-storm" in steps:
        out["plan-after-storm"] = _goal((report.plan_after_storm == 0, "a no-op (exit 0)"))
    help_step = steps.get("help")
    if help_step:
        out["help"] = _goal((help_step.wall <= GOAL_HELP_SECONDS, f"<= {GOAL_HELP_SECONDS} s"))
    return out


def render(report: Report) -> str:
    o = report.options
    header = (
        f"{'step':32} | {'wall s':>8} | {'requests':>8} | {'req/dataflow':>12} | "
        f"{'in flight (avg)':>15} | {'peak MiB':>8} | {'CPU s':>6} | goal"
    )
    lines = [
        f"{o.flows} dataflows ({expected_accounts(o)} accounts), {o.latency_ms:g} ms latency; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "",
        header,
        "-" * len(header),
    ]
    beside = goals(report)
    for key, step in report.steps.items():
        per_flow = f"{step.per_dataflow:.2f}" if step.per_dataflow is not None else "-"
        lines.append(
            f"{step.name:32} | {step.wall:8.2f} | {step.requests:8d} | {per_flow:>12} | "
            f"{step.in_flight:15.2f} | {step.peak_mib:8.0f} | {step.cpu:6.2f} | "
            f"{beside.get(key, '')}{'  ' + step.note if step.note else ''}"
        )
    plan, baseline = report.steps.get("plan"), report.steps.get("baseline")
    apply, storm = report.steps.get("apply"), report.steps.get("storm")
    lines.append("")
    if plan and baseline:
        lines.append(
            f"baseline / plan: {baseline.wall / plan.wall:.1f}x wall time, "
            f"{baseline.requests / max(plan.requests, 1):.1f}x requests"
        )
    if apply and storm:
        lines.append(f"storm / calm apply: {storm.wall / apply.wall:.2f}x wall time")
    if report.after_storm is not None:
        c = report.after_storm
        lines.append(
            f"after the storm: {c.flows} dataflows ({c.flow_names} names), {c.targets} target "
            f"connections, {c.accounts} destination accounts: "
            f"{'no duplicate' if report.no_duplicate else 'DUPLICATES OR MISSING'}; "
            f"the next plan exits {report.plan_after_storm} "
            f"({'no-op' if report.plan_after_storm == 0 else 'NOT a no-op'})"
        )
    if (o.flows, o.latency_ms) != (1000, 50.0):
        lines.append("(the goals are set for 1,000 dataflows at 50 ms)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--flows", type=int, default=None, help="dataflows (default 1000)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 dataflows")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument(
        "--steps",
        default=",".join(sorted(STEPS)),
        help="comma-separated steps to run, of: %(default)s",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--baseline-of", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_of:
        print(f"read {baseline_read(args.baseline_of, os.environ['BENCH_TOKEN'])} dataflows")
        return 0
    flows = args.flows if args.flows is not None else (100 if args.quick else 1000)
    steps = frozenset(s.strip() for s in args.steps.split(",") if s.strip())
    if not steps or steps - STEPS:
        parser.error(f"--steps: choose among {', '.join(sorted(STEPS))}")
    options = Options(flows=flows, latency_ms=args.latency_ms, timeout=args.timeout, steps=steps)
    work = Path(tempfile.mkdtemp(prefix="provisioner-fleet-"))
    try:
        print(f"fleet of {flows} dataflows in {work}")
        report = run(work, options)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(render(report))
    stormed = report.after_storm is None or (report.no_duplicate and report.plan_after_storm == 0)
    return 0 if stormed else 1


if __name__ == "__main__":
    sys.exit(main())
