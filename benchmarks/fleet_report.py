"""The fleet benchmark's table: every step's figures, the ratios between them, the goals."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from benchmarks.fleet_bench import LiveCounts, Step
from benchmarks.fleet_manifests import expected_accounts
from benchmarks.fleet_options import Options
from benchmarks.quota_runs import QuotaReport, render_quota

# The goals, for 1,000 dataflows at 50 ms of latency. The plan's: 150 times faster than
# the per-object script (about 159 s) in the same run, so about 1.06 s.
GOAL_PLAN_SECONDS = 1.06
GOAL_BASELINE_RATIO = 150.0
GOAL_APPLY_SECONDS = 20.0
GOAL_APPLY_REQUESTS_PER_FLOW = 3.0
GOAL_APPLY_IN_FLIGHT = 12.0
GOAL_STORM_RATIO = 2.0
GOAL_HELP_SECONDS = 0.25
# `status` of the fleet all healthy: what a no-op plan reads, and at most this much more.
GOAL_STATUS_EXTRA_REQUESTS = 5
GOAL_STATUS_RATIO = 1.2


def _goal(*parts: tuple[bool, str]) -> str:
    """Each part of a goal marked met (ok) or missed (MISS)."""
    return "; ".join(f"{'ok' if met else 'MISS'} {text}" for met, text in parts)


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
    def plan_before_status(self) -> Step | None:
        """The no-op plan status is held against: the one measured just before it (of the
        fleet as the earlier steps left it), else the first."""
        return self.steps.get("plan-status") or self.steps.get("plan")

    @property
    def no_duplicate(self) -> bool:
        counts = self.after_storm
        return counts is not None and counts == self.expected


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
    status, before = steps.get("status"), report.plan_before_status
    if before and status:
        out["status"] = _goal(
            (
                status.requests <= before.requests + GOAL_STATUS_EXTRA_REQUESTS,
                f"<= plan + {GOAL_STATUS_EXTRA_REQUESTS} req",
            ),
            (status.wall <= GOAL_STATUS_RATIO * before.wall, f"<= {GOAL_STATUS_RATIO}x plan"),
        )
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
        f"{o.flows} dataflows ({report.expected.accounts} accounts), {o.latency_ms:g} ms latency; "
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
    lines += ["", *_ratios(report)]
    if report.quota is not None:
        lines += ["", *render_quota(report.quota)]
    if (o.flows, o.latency_ms) != (1000, 50.0):
        lines.append("(the goals are set for 1,000 dataflows at 50 ms)")
    return "\n".join(lines)


def _ratios(report: Report) -> list[str]:
    """The steps against each other: the plan against the script, the storm against the
    calm apply, status against the plan; and what the storm left behind."""
    steps = report.steps
    plan, baseline = steps.get("plan"), steps.get("baseline")
    apply, storm = steps.get("apply"), steps.get("storm")
    lines = []
    if plan and baseline:
        lines.append(
            f"baseline / plan: {baseline.wall / plan.wall:.1f}x wall time "
            f"({'ok' if baseline.wall / plan.wall >= GOAL_BASELINE_RATIO else 'MISS'} "
            f">= {GOAL_BASELINE_RATIO:.0f}x), {baseline.requests / max(plan.requests, 1):.1f}x "
            "requests"
        )
    if apply and storm:
        lines.append(f"storm / calm apply: {storm.wall / apply.wall:.2f}x wall time")
    before = report.plan_before_status
    for key, what in (("status", "all healthy"), ("status-failing", "some failing")):
        step = steps.get(key)
        if before and step:
            lines.append(
                f"status ({what}) / the plan before it: {step.wall / before.wall:.2f}x wall "
                f"time, {step.requests - before.requests:+d} requests"
            )
    if report.after_storm is not None:
        c = report.after_storm
        lines.append(
            f"after the storm: {c.flows} dataflows ({c.flow_names} names), {c.targets} target "
            f"connections, {c.accounts} destination accounts: "
            f"{'no duplicate' if report.no_duplicate else 'DUPLICATES OR MISSING'}; "
            f"the next plan exits {report.plan_after_storm} "
            f"({'no-op' if report.plan_after_storm == 0 else 'NOT a no-op'})"
        )
    return lines
