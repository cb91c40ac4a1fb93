"""The fleet benchmark's machinery on a tiny fleet: it counts requests and checks duplicates.

Nothing here is timed: the benchmark is run for its counts and its checks only.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.fleet import Options, expected_accounts, render, run
from provisioner.emulator.inflight import InFlight


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_is_the_time_integral_of_concurrent_requests() -> None:
    clock = _Clock()
    in_flight = InFlight(clock)
    with in_flight.tracking():  # 0..4: one request, joined by a second over 1..3
        clock.now = 1.0
        with in_flight.tracking():
            clock.now = 3.0
        clock.now = 4.0
    assert in_flight.snapshot() == {
        "current": 0,
        "peak": 2,
        "request_seconds": 6.0,
        "window_seconds": 4.0,
        "average": 1.5,
    }
    in_flight.reset()
    clock.now = 5.0
    assert in_flight.snapshot()["request_seconds"] == 0.0
    assert in_flight.snapshot()["peak"] == 0


def test_the_benchmark_counts_requests_and_finds_no_duplicate_after_a_storm(
    tmp_path: Path,
) -> None:
    # A lighter storm with Retry-After 0: the waits are only the client's own short backoff.
    options = Options(
        flows=6,
        latency_ms=0,
        storm_rate=0.15,
        retry_after=0,
        help_runs=1,
        timeout=120,
        steps=frozenset({"plan", "baseline", "apply", "storm", "help"}),
    )
    report = run(tmp_path, options, progress=lambda _: None)

    steps = report.steps
    assert [s.code for s in steps.values()] == [0, 0, 0, 0, 0, 0], render(report)
    # the per-object script: 1 page of dataflows, then 3 GETs a dataflow
    assert steps["baseline"].requests == 1 + 3 * 6
    assert steps["baseline"].dataflows == 6
    # a no-op plan reads with lists: far fewer requests than the script
    assert 0 < steps["plan"].requests < steps["baseline"].requests
    # both applies change every dataflow, and the storm's 429s are counted as requests
    assert steps["apply"].dataflows == steps["storm"].dataflows == 6
    assert steps["storm"].requests > steps["apply"].requests > 6
    assert steps["apply"].request_seconds > 0
    assert steps["help"].requests == 0
    assert expected_accounts(options) == 6
    assert report.no_duplicate, report.after_storm
    assert report.plan_after_storm == 0
    assert "no duplicate" in render(report)


def test_the_status_step_reads_the_healthy_fleet_as_cheaply_as_a_plan(tmp_path: Path) -> None:
    options = Options(flows=6, latency_ms=0, timeout=120, steps=frozenset({"status"}))
    report = run(tmp_path, options, progress=lambda _: None)

    steps = report.steps
    assert [(k, s.code) for k, s in steps.items()] == [
        ("plan", 0),
        ("plan-status", 0),  # the plan status is held against, just before it
        ("status", 0),  # an hour in which every dataflow delivered
        ("status-failing", 2),  # another, in which they all failed
    ], render(report)
    # healthy: the plan's reads, a few more (the platform's clock, the sandbox's failed runs)
    before = steps["plan-status"].requests
    assert before <= steps["status"].requests <= before + 5
    # failing: their runs are read too
    assert steps["status-failing"].requests > steps["status"].requests
    shown = render(report)
    assert "ok <= plan + 5 req" in shown
    assert "status (some failing) / the plan before it:" in shown
