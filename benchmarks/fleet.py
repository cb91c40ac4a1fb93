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
  status    `provisioner status` after an hour of the emulator's clock in which every
            dataflow delivered, then after another in which 10 failed, beside the no-op
            plan (benchmarks/status.py alone says more)
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
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.children import cli_command  # noqa: E402
from benchmarks.fleet_bench import Bench, LiveCounts, Step, served_fleet  # noqa: E402
from benchmarks.fleet_manifests import expected_accounts, write_manifests  # noqa: E402
from benchmarks.fleet_options import STEPS, Options  # noqa: E402
from benchmarks.fleet_report import Report, render  # noqa: E402
from benchmarks.quota_runs import quota_runs  # noqa: E402
from benchmarks.raw_reads import baseline_read  # noqa: E402

# What the benchmark's tests take from here: the whole run, and what it reports.
__all__ = ["LiveCounts", "Options", "Report", "expected_accounts", "render", "run"]

STATUS_FAILING = 10  # dataflows whose runs fail before the status step


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
        """`status` after an hour in which every dataflow delivered (the goal: a no-op
        plan's requests and 5 more, within 1.2x its time, that plan measured just before),
        then after another hour in which a few failed (their runs are read too). The
        fleet's last step: it leaves runs behind."""
        from benchmarks.status import advance, fail_runs, status_env

        bench = self.bench
        command = [*cli_command(), "status", str(bench.manifests)]
        # The plan status is held against, of the fleet as it is now: earlier steps (quota)
        # add an audience to every dataflow, and with it the plan's audience reads.
        self.record("plan-status", bench.plan("plan (no-op), before status"))
        advance(bench)
        healthy = bench.measure(
            "status (all healthy)", command, lambda _: bench.options.flows, status_env(bench)
        )
        self.record("status", healthy)
        failing = min(STATUS_FAILING, bench.options.flows)
        fail_runs(bench, failing)
        advance(bench)
        step = bench.measure(
            f"status ({failing} failing)",
            command,
            lambda _: bench.options.flows,
            status_env(bench),
        )
        if step.code == 2:  # some dataflows unhealthy, as arranged
            step.note = ""
        self.record("status-failing", step)


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
