"""The fleet benchmark's quota and status steps on a tiny fleet: what they count and check.

Nothing here is timed: the steps are run for their counts and their verdicts only.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.fleet import LiveCounts, Options, render, run
from benchmarks.quota_runs import QUOTA_RUNS, QuotaReport, QuotaRun, render_quota

FLEET = LiveCounts(flows=4, flow_names=4, targets=4, accounts=4)


def _run(wall: float, accepted: int, refused: int, live: LiveCounts = FLEET) -> QuotaRun:
    return QuotaRun(wall, accepted, refused, code=0, follow_up=0, live=live, expected=FLEET)


def test_quota_runs_change_every_dataflow_and_leave_the_fleet_whole(tmp_path: Path) -> None:
    options = Options(flows=4, latency_ms=0, timeout=120, steps=frozenset({"quota", "status"}))
    report = run(tmp_path, options, progress=lambda _: None)

    assert report.quota is not None
    runs = report.quota.runs
    assert len(runs) == QUOTA_RUNS
    for quota_run in runs:
        # each run changed every dataflow (a PATCH each at least), through the metered gateway
        assert quota_run.accepted >= options.flows, render(report)
        assert quota_run.code == 0 and quota_run.follow_up == 0, render(report)
        assert quota_run.live == report.expected
        assert quota_run.converged
    # the plan the quota is weighed against; status after it, of the fleet all healthy
    # (0), then with failing dataflows (2), each held against the plan just before it
    assert report.steps["plan"].code == 0
    assert report.steps["plan-status"].code == 0
    assert report.steps["status"].code == 0
    assert report.steps["status-failing"].code == 2
    text = render(report)
    assert "quota run" in text and "status (all healthy) / the plan before it" in text


def test_the_quota_goal_weighs_the_median_run_against_what_the_quota_allows() -> None:
    # the median run accepted 220 requests: (220 - 20) / 100 + 1 s of plan = 3 s at least
    report = QuotaReport([_run(3.3, 220, 5), _run(3.4, 220, 4), _run(9.0, 221, 3)], 1.0)
    assert report.bound == 3.0
    assert report.median_wall == 3.4
    assert report.met() == (True, True, True)
    slower = QuotaReport([_run(3.5, 220, 5)] * 3, 1.0)
    assert slower.met()[0] is False  # 3.5 s > 1.15 x 3 s


def test_a_run_refused_too_often_or_with_a_duplicate_misses_its_goal() -> None:
    refused = QuotaReport([_run(3.0, 220, 5), _run(3.0, 220, 12), _run(3.0, 220, 5)], 1.0)
    assert refused.met()[1] is False  # 12 of 232: more than 5%
    twice = LiveCounts(flows=5, flow_names=4, targets=5, accounts=4)
    duplicate = QuotaReport([_run(3.0, 220, 5, live=twice)] * 3, 1.0)
    assert duplicate.met()[2] is False
    assert "MISS every run converged" in "\n".join(render_quota(duplicate))
