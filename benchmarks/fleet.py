"""Benchmark: plan and apply a fleet of N dataflows, against a per-object script baseline.

Serves the emulator with `provisioner emulator serve --latency-ms L` in its own process,
seeds N managed dataflows (half Amazon Kinesis, half Azure Event Hubs, on 10 shared
accounts, 5 audiences and 3 attributes each) exactly as `provisioner apply` makes them,
writes their N manifests (one file each) to a temporary folder, then measures, each step in
its own process with the real command (started as an installed tool starts: its bytecode
compiled, the user's cache folder empty):

  plan      a no-op `provisioner plan --detailed-exitcode` (exit 0 expected)
  baseline  a script that lists the dataflows, then GETs each dataflow, its target
            connection and its account one at a time (3 requests a dataflow)
  apply     `provisioner apply --auto-approve` adding one audience to every dataflow
  storm     the same under a storm: 30% of requests answered 429 with `Retry-After: 1`;
            then checks there is no duplicate and that a no-op plan follows
  quota     the apply of one audience added (then removed, then added) under the
            emulator's quota of 100 requests/s, burst 20, three times; each followed by a
            no-op plan and a count of the dataflows (benchmarks/quota_runs.py)
  status    `provisioner status` after an hour of the emulator's clock in which 10
            dataflows failed, beside the no-op plan (benchmarks/status.py alone says more)
  --help    `provisioner --help`, the median of several starts

For each: the wall time, the requests the emulator answered, requests per dataflow (changed
ones for apply), the average number of requests in flight (measured in the emulator: the
sum of request durations divided by the wall time), the process's peak memory and its CPU
time. Goals (for 1,000 dataflows at 50 ms) are printed beside, and the ratios between the
steps below (benchmarks/fleet_report.py).

    python benchmarks/fleet.py [--flows 1000] [--latency-ms 50] [--quick] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.children import (  # noqa: E402
    ChildRun,
    as_installed,
    cli_command,
    compile_package,
    run_child,
)
from benchmarks.fleet_manifests import expected_accounts, write_manifests  # noqa: E402
from benchmarks.fleet_report import render  # noqa: E402
from benchmarks.quota_runs import QuotaReport, quota_runs  # noqa: E402
from benchmarks.raw_reads import api_headers, baseline_read, list_all  # noqa: E402
from provisioner.emulator.catalog import EVENT_HUBS_SPEC_ID, KINESIS_SPEC_ID  # noqa: E402
from provisioner.emulator.store import Store  # noqa: E402
from provisioner.platform.ids import FLOW_SERVICE_PATH  # noqa: E402
from tests.emulator_support import (  # noqa: E402
    ADMIN_AUTH,
    get_token,
    platform_target,
    start_serve_process,
)
from tests.fleet import FLEET_ENV, seed_fleet  # noqa: E402

# The names benchmarks/status.py reads the fleet with.
__all__ = [
    "Bench",
    "Options",
    "Step",
    "_headers",
    "_list_all",
    "cli_command",
    "expected_accounts",
    "render",
]
_headers = api_headers
_list_all = list_all

HELP_RUNS = 7
STATUS_FAILING = 10  # dataflows whose runs fail before the status step

STEPS = frozenset({"plan", "baseline", "apply", "storm", "quota", "status", "help"})


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
    quota: QuotaReport | None = None

    @property
    def expected(self) -> LiveCounts:
        """The fleet exactly once."""
        flows = self.options.flows
        return LiveCounts(flows, flows, flows, expected_accounts(self.options))

    @property
    def plan_after_storm(self) -> int | None:
        """The exit code of the plan after the storm (0: a no-op)."""
        step = self.steps.get("plan-after-storm")
        return step.code if step else None

    @property
    def no_duplicate(self) -> bool:
        counts = self.after_storm
        return counts is not None and counts == self.expected


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
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AEP_") and k != "CI"}
        self.env = {
            **as_installed(inherited),
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
    compile_package()
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


class _Steps:
    """The steps of one run, in order, on one served fleet; each recorded as it ends."""

    def __init__(self, bench: Bench, report: Report, progress: Callable[[str], None]) -> None:
        self.bench, self.report, self.progress = bench, report, progress
        self.added = 0  # audiences added to every manifest so far

    def record(self, key: str, step: Step) -> None:
        self.report.steps[key] = step
        self.progress(f"  {step.name}: {step.wall:.2f} s, {step.requests} requests {step.note}")

    def apply(self) -> None:
        self.added += 1
        write_manifests(self.bench.manifests, self.bench.options, extra_audiences=self.added)
        self.record("apply", self.bench.apply("apply (+1 audience)"))

    def storm(self) -> None:
        bench, options = self.bench, self.bench.options
        self.added += 1
        write_manifests(bench.manifests, options, extra_audiences=self.added)
        bench.faults(rate_429=options.storm_rate, retry_after=options.retry_after, seed=1)
        try:
            self.record("storm", bench.apply(f"apply, {options.storm_rate:.0%} 429 storm"))
        finally:
            bench.faults(rate_429=0.0)
        self.report.after_storm = bench.live_counts()
        self.record("plan-after-storm", bench.plan("plan after the storm"))

    def quota(self) -> None:
        plan_wall = self.report.steps["plan"].wall
        report = quota_runs(self.bench, self.added, self.report.expected, plan_wall, self.progress)
        self.report.quota = report
        self.added += len(report.runs) % 2  # add, remove, add: one more when odd

    def status(self) -> None:
        """`status` after an hour in which a few dataflows failed (the fleet's last step:
        it leaves runs behind)."""
        from benchmarks.status import advance, fail_runs, status_env

        bench = self.bench
        fail_runs(bench, min(STATUS_FAILING, bench.options.flows))
        advance(bench)
        command = [*cli_command(), "status", str(bench.manifests)]
        step = bench.measure("status", command, lambda _: bench.options.flows, status_env(bench))
        if step.code == 2:  # some dataflows unhealthy, as arranged
            step.note = ""
        self.record("status", step)


def run(work: Path, options: Options, progress: Callable[[str], None] = print) -> Report:
    """Every step, in order, on a fleet served from `work`. The no-op plan is measured
    whenever a step is compared with it (quota, status)."""
    report = Report(options)
    wanted = options.steps
    with served_fleet(work, options) as bench:
        steps = _Steps(bench, report, progress)
        if wanted & {"plan", "quota", "status"}:
            steps.record("plan", bench.plan())
        if "baseline" in wanted:
            steps.record("baseline", bench.baseline())
        for name in ("apply", "storm", "quota"):
            if name in wanted:
                getattr(steps, name)()
        if "help" in wanted:
            steps.record("help", bench.help())
        if "status" in wanted:
            steps.status()
    return report


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
    converged = report.quota is None or report.quota.met()[2]
    return 0 if stormed and converged else 1


if __name__ == "__main__":
    sys.exit(main())
