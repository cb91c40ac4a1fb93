"""The fleet's apply against a metered platform: the emulator's per-client quota.

The emulator meters each client with a token bucket (`rps` a second, after a burst of
`burst`) and answers the excess 429 with a `Retry-After` in whole seconds. A client that
learns the quota sends at its pace and is refused little: it can do no better than its
requests beyond the burst at the quota's rate, on top of what the same run costs unmetered
(the no-op plan's reads). So the goal of each run: a wall time within `GOAL_OVERHEAD` of

    (accepted - burst) / rps + the no-op plan's wall time

and at most `GOAL_REFUSED` of its requests refused. Each run changes every dataflow (one
audience added, then removed, then added again), then, the quota lifted, a follow-up plan
must be a no-op and every dataflow must be there once (counted by name).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.fleet_manifests import write_manifests

if TYPE_CHECKING:
    from benchmarks.fleet_bench import Bench, LiveCounts

QUOTA_RPS = 100.0
QUOTA_BURST = 20
QUOTA_RUNS = 3
GOAL_OVERHEAD = 1.15  # the median run's wall time against the least the quota allows
GOAL_REFUSED = 0.05  # the share of requests refused, in every run


@dataclass(frozen=True)
class QuotaRun:
    wall: float
    accepted: int
    refused: int
    code: int | None
    follow_up: int | None  # the exit code of the plan after it (0: a no-op)
    live: LiveCounts
    expected: LiveCounts  # the fleet exactly once
    note: str = ""

    @property
    def refused_share(self) -> float:
        sent = self.accepted + self.refused
        return self.refused / sent if sent else 0.0

    @property
    def converged(self) -> bool:
        """Every dataflow as its manifest says, and none twice."""
        return self.code == 0 and self.follow_up == 0 and self.live == self.expected


@dataclass(frozen=True)
class QuotaReport:
    runs: list[QuotaRun]
    plan_wall: float  # the no-op plan's, in the same fleet
    rps: float = QUOTA_RPS
    burst: int = QUOTA_BURST

    @property
    def median_wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def bound(self) -> float:
        """The least wall time the quota allows the median run's requests."""
        accepted = statistics.median(r.accepted for r in self.runs)
        return max(accepted - self.burst, 0) / self.rps + self.plan_wall

    @property
    def ratio(self) -> float:
        return self.median_wall / self.bound if self.bound > 0 else float("inf")

    def met(self) -> tuple[bool, bool, bool]:
        """Within the wall-time goal; refusals within theirs in every run; every run
        converged without a duplicate."""
        return (
            self.ratio <= GOAL_OVERHEAD,
            all(r.refused_share <= GOAL_REFUSED for r in self.runs),
            all(r.converged for r in self.runs),
        )


def set_quota(bench: Bench, rps: float | None, burst: int | None = None) -> None:
    """A fresh bucket for every client (or none, with `rps` None)."""
    body = {"rps": rps, "burst": burst} if rps is not None else {"rps": None}
    bench.admin.put("/emulator/quota", json=body).raise_for_status()


def quota_runs(
    bench: Bench,
    extra_audiences: int,
    expected: LiveCounts,
    plan_wall: float,
    progress: Callable[[str], None] = print,
) -> QuotaReport:
    """`QUOTA_RUNS` applies under the quota, each changing every dataflow, from manifests
    with `extra_audiences` audiences beyond the seeded ones (the fleet as it stands)."""
    runs = []
    for index in range(QUOTA_RUNS):
        added = extra_audiences + (1 if index % 2 == 0 else 0)  # add, remove, add again
        write_manifests(bench.manifests, bench.options, extra_audiences=added)
        set_quota(bench, QUOTA_RPS, QUOTA_BURST)
        try:
            step = bench.apply(f"apply under the quota, run {index + 1}")
            quota = bench.stats()["quota"] or {}
        finally:
            set_quota(bench, None)
        follow_up = bench.plan("plan after the quota run")
        run = QuotaRun(
            wall=step.wall,
            accepted=int(quota.get("accepted", 0)),
            refused=int(quota.get("refused", 0)),
            code=step.code,
            follow_up=follow_up.code,
            live=bench.live_counts(),
            expected=expected,
            note=step.note,
        )
        progress(
            f"  quota run {index + 1}: {run.wall:.2f} s, {run.accepted} accepted, "
            f"{run.refused} refused ({run.refused_share:.1%}), exit {run.code}, "
            f"follow-up plan exit {run.follow_up} {run.note}"
        )
        runs.append(run)
    return QuotaReport(runs, plan_wall)


def render_quota(report: QuotaReport) -> list[str]:
    """The quota runs, one row each, and the goal against the median."""
    header = (
        f"{'quota run':10} | {'wall s':>7} | {'accepted':>8} | {'refused':>7} | "
        f"{'refused %':>9} | {'exit':>4} | {'next plan':>9} | converged, no duplicate"
    )
    lines = [
        f"apply under a quota of {report.rps:g} requests/s, burst {report.burst} "
        f"(one audience added, removed, added: every dataflow changes each run)",
        "",
        header,
        "-" * len(header),
    ]
    for index, run in enumerate(report.runs, start=1):
        lines.append(
            f"{index:10d} | {run.wall:7.2f} | {run.accepted:8d} | {run.refused:7d} | "
            f"{run.refused_share:9.1%} | {_code(run.code):>4} | {_code(run.follow_up):>9} | "
            f"{'yes' if run.converged else 'NO'}{'  ' + run.note if run.note else ''}"
        )
    fast, few_refused, converged = report.met()
    lines += [
        "",
        f"median wall {report.median_wall:.2f} s against (accepted - {report.burst}) / "
        f"{report.rps:g} + no-op plan = {report.bound:.2f} s: {report.ratio:.2f}x "
        f"({'ok' if fast else 'MISS'} <= {GOAL_OVERHEAD:g}x); "
        f"{'ok' if few_refused else 'MISS'} refused <= {GOAL_REFUSED:.0%} in every run; "
        f"{'ok' if converged else 'MISS'} every run converged, no duplicate",
    ]
    return lines


def _code(code: int | None) -> str:
    return "-" if code is None else str(code)
