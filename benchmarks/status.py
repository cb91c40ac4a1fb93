"""Benchmark: `provisioner status` of a fleet of N dataflows, beside the no-op plan.

The fleet of `benchmarks/fleet.py` (N managed dataflows, served by `provisioner emulator
serve --latency-ms L` in its own process), after an hour of the emulator's clock in which F
of them failed (a run fault on their target connections) and the rest succeeded. Then, each
in its own process with the real command:

  plan              the no-op `provisioner plan --detailed-exitcode` (exit 0 expected)
  status            `provisioner status`: the plan's reads, the clock, the sandbox's failed
                    runs, and the runs of the F failing dataflows (exit 2 expected when F > 0)
  status --details  the same, reading every dataflow's runs (N more requests)

For each: the wall time, the requests the emulator answered, and the process's peak memory
and CPU time. The point: `status` costs a no-op plan and a handful of requests more, the
runs of the failing dataflows, not one request per dataflow.

    python benchmarks/status.py [--flows 1000] [--latency-ms 50] [--failing 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The fleet benchmark's machinery: its fleet, its serving, its measuring, its raw lists.
from benchmarks.children import cli_command  # noqa: E402
from benchmarks.fleet_bench import Bench, Step, served_fleet  # noqa: E402
from benchmarks.fleet_options import Options  # noqa: E402
from benchmarks.raw_reads import api_headers, list_all  # noqa: E402
from provisioner.platform.ids import FLOW_SERVICE_PATH  # noqa: E402
from tests.fleet import FLEET_ENV  # noqa: E402

FLEET_SECRETS = frozenset(FLEET_ENV)


@dataclass
class StatusReport:
    options: Options
    failing: int
    advance_seconds: float = 0.0
    steps: dict[str, Step] = field(default_factory=dict)


def fail_runs(bench: Bench, count: int) -> None:
    """The next runs of `count` dataflows fail: a run fault on their target connections."""
    for target in target_ids(bench)[: max(count, 0)]:
        body = {"targetConnectionId": target, "fault": "unreachable"}
        bench.admin.post("/emulator/run-faults", json=body).raise_for_status()


def target_ids(bench: Bench) -> list[str]:
    """The fleet's target connections, in a stable order."""
    headers = api_headers(bench.token)
    with httpx.Client(base_url=bench.url + FLOW_SERVICE_PATH, headers=headers, timeout=60) as c:
        return sorted(str(t["id"]) for t in list_all(c, "/targetConnections"))


def advance(bench: Bench, hours: int = 1) -> float:
    """Moves the served emulator's clock on; the seconds it took (the emulator's work)."""
    started = time.perf_counter()
    response = bench.admin.post("/emulator/advance", json={"hours": hours}, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def status_env(bench: Bench) -> dict[str, str]:
    """The CLI's environment without the destination secrets: `status` needs none."""
    return {k: v for k, v in bench.env.items() if k not in FLEET_SECRETS}


def run(
    work: Path, options: Options, failing: int, progress: Callable[[str], None] = print
) -> StatusReport:
    report = StatusReport(options, failing)
    with served_fleet(work, options) as bench:
        fail_runs(bench, failing)
        report.advance_seconds = advance(bench)
        progress(f"  advance 1h: {report.advance_seconds:.2f} s (the emulator's work)")

        def record(key: str, step: Step) -> None:
            report.steps[key] = step
            progress(f"  {step.name}: {step.wall:.2f} s, {step.requests} requests {step.note}")

        record("plan", bench.plan())
        manifests = str(bench.manifests)
        for key, extra in (("status", []), ("details", ["--details"])):
            command = [*cli_command(), "status", *extra, manifests]
            name = " ".join(["status", *extra])
            step = bench.measure(name, command, lambda _: options.flows, status_env(bench))
            expected = 2 if failing else 0
            if step.code == expected:
                step.note = ""
            elif step.code is not None and not step.note:
                step.note = f"exit {step.code}, {expected} expected"
            record(key, step)
    return report


def render(report: StatusReport) -> str:
    o = report.options
    header = (
        f"{'step':20} | {'exit':>4} | {'wall s':>8} | {'requests':>8} | {'req/dataflow':>12} | "
        f"{'peak MiB':>8} | {'CPU s':>6}"
    )
    lines = [
        f"{o.flows} dataflows, {report.failing} failing, {o.latency_ms:g} ms latency",
        "",
        header,
        "-" * len(header),
    ]
    for step in report.steps.values():
        per_flow = f"{step.requests / o.flows:.3f}" if o.flows else "-"
        lines.append(
            f"{step.name:20} | {step.code if step.code is not None else '-':>4} | "
            f"{step.wall:8.2f} | {step.requests:8d} | {per_flow:>12} | {step.peak_mib:8.0f} | "
            f"{step.cpu:6.2f}{'  ' + step.note if step.note else ''}"
        )
    plan, status = report.steps.get("plan"), report.steps.get("status")
    if plan and status:
        lines += [
            "",
            f"status beyond the no-op plan: {status.requests - plan.requests} request(s), "
            f"{status.wall - plan.wall:+.2f} s",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--failing", type=int, default=10, help="dataflows whose run fails")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    options = Options(flows=args.flows, latency_ms=args.latency_ms, timeout=args.timeout)
    work = Path(tempfile.mkdtemp(prefix="provisioner-status-"))
    try:
        print(f"fleet of {args.flows} dataflows in {work}")
        report = run(work, options, min(args.failing, args.flows))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(render(report))
    expected = 2 if report.failing else 0
    return 0 if all(s.code in (0, expected) for s in report.steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
