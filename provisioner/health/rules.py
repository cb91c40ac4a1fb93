"""The status rules: which dataflows are healthy, which need their runs read, and why.

Unhealthy is any of:

- missing: the manifest's dataflow does not exist;
- failed-run: its latest run failed;
- failed-ratio: over the window (`--since`), the share of identities that failed, of those
  the runs tried to deliver (activated + failed; excluded ones never were to be delivered),
  is above `--max-failed-ratio`;
- stale: no run started for `--stale-after`, counted from its creation when it never ran.

Only a dataflow expected to run is judged on its runs: one that is enabled (on the platform,
or in its manifest) and has audiences (on the platform, or in its manifest). Disabled on
purpose (both say disabled) and empty dataflows are healthy: they have nothing to deliver.
A run that is processing or waiting is neither a success nor a failure.

Reads stay cheap: the dataflow list gives every dataflow's last run, and one list of the
sandbox's failed runs in the window names the dataflows that failed lately; a dataflow's
own runs are read only when it needs detail (`needs_detail`): a failed run in the window, a
failed or partly failed last run, stale, or every dataflow with `--details`. The failed
share is judged on the runs read: a dataflow none of whose runs failed outright has its
share judged when its last run partly failed, or with `--details`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.health.durations import format_age, format_duration
from provisioner.health.model import (
    DataflowStatus,
    Finding,
    LastRun,
    Run,
    RunError,
    Settings,
    StatusReport,
    Summary,
    Window,
)
from provisioner.health.runs import created_at, is_enabled, last_run
from provisioner.plan.diff import live_audiences
from provisioner.plan.model import PlanTarget

TOP_ERRORS = 3


@dataclass(frozen=True)
class Rules:
    since: int = 24 * 3600  # seconds
    stale_after: int = 3 * 3600  # seconds
    max_failed_ratio: float = 0.05


@dataclass(frozen=True)
class Observed:
    """A manifest, what `plan` would change for it, and its live dataflow (None: missing)."""

    name: str
    source: str
    wanted_enabled: bool
    wanted_audiences: int
    flow: Mapping[str, Any] | None
    pending: list[str] = field(default_factory=list)

    @property
    def expected_to_run(self) -> bool:
        if self.flow is None:
            return False
        enabled = self.wanted_enabled or is_enabled(self.flow)
        return enabled and (self.wanted_audiences > 0 or bool(live_audiences(dict(self.flow))))


def needs_detail(observed: Observed, rules: Rules, now: int, failed_lately: bool = False) -> bool:
    """Whether the dataflow's runs are worth reading: a run of the window failed (as a
    list of the sandbox's failed runs says, `failed_lately`), its last run failed or
    partly, or it is stale."""
    if not observed.expected_to_run or observed.flow is None:
        return False
    if failed_lately:
        return True
    latest = last_run(observed.flow)
    if latest is not None and latest.outcome in ("failed", "partial"):
        return True
    return _stale(observed.flow, latest, rules, now) is not None


def assess(
    observed: Observed, rules: Rules, now: int, runs: Sequence[Run] | None = None
) -> DataflowStatus:
    """The status of one dataflow at `now` (epoch ms); `runs` as read for it, if they were."""
    flow = observed.flow
    if flow is None:
        return _missing(observed)
    latest = _latest(last_run(flow), runs or [])
    window = make_window(runs, now - rules.since * 1000) if runs is not None else None
    findings = []
    note = ""
    if not observed.expected_to_run:
        note = _idle_note(observed, flow)
    else:
        findings = _findings(flow, latest, window, rules, now)
        if latest is None and not findings:
            note = "never ran"
    return DataflowStatus(
        name=observed.name,
        source=observed.source,
        id=str(flow.get("id", "")),
        enabled=is_enabled(flow),
        wanted_enabled=observed.wanted_enabled,
        audiences=len(live_audiences(dict(flow))),
        expected_to_run=observed.expected_to_run,
        in_step=not observed.pending,
        pending=list(observed.pending),
        created_at=created_at(flow),
        last_run=latest,
        last_run_age=_age(latest.started_at, now) if latest is not None else None,
        health="unhealthy" if findings else "healthy",
        findings=findings,
        note=note,
        window=window,
    )


def _missing(observed: Observed) -> DataflowStatus:
    return DataflowStatus(
        name=observed.name,
        source=observed.source,
        id=None,
        enabled=None,
        wanted_enabled=observed.wanted_enabled,
        audiences=0,
        expected_to_run=False,
        in_step=not observed.pending,
        pending=list(observed.pending),
        created_at=None,
        last_run=None,
        last_run_age=None,
        health="unhealthy",
        findings=[Finding(rule="missing", message="no such dataflow: `apply` creates it")],
        note="",
        window=None,
    )


def _idle_note(observed: Observed, flow: Mapping[str, Any]) -> str:
    if not observed.wanted_enabled and not is_enabled(flow):
        return "disabled on purpose"
    return "no audiences: nothing to deliver"


def _findings(
    flow: Mapping[str, Any],
    latest: LastRun | None,
    window: Window | None,
    rules: Rules,
    now: int,
) -> list[Finding]:
    findings = []
    if latest is not None and latest.outcome == "failed":
        error = _error_of(latest, window)
        said = f" ({said_by(error)})" if error is not None else ""
        findings.append(Finding(rule="failed-run", message=f"the last run failed{said}"))
    ratio = window.failed_ratio if window is not None else None
    if ratio is not None and ratio > rules.max_failed_ratio:
        findings.append(
            Finding(
                rule="failed-ratio",
                message=f"{ratio:.1%} of identities failed over the last "
                f"{format_duration(rules.since)} (limit {rules.max_failed_ratio:.1%})",
            )
        )
    stale = _stale(flow, latest, rules, now)
    if stale is not None:
        findings.append(Finding(rule="stale", message=stale))
    return findings


def _error_of(latest: LastRun, window: Window | None) -> RunError | None:
    """The error the failed last run recorded, when its runs were read: its own first, else
    the window's most frequent."""
    if window is None:
        return None
    own = [r.errors for r in window.runs if r.id == latest.id and r.errors]
    if own:
        return own[0][0]
    return window.errors[0] if window.errors else None


def said_by(error: RunError) -> str:
    """`CODE: message`, or whichever of the two the run recorded."""
    return ": ".join(part for part in (error.code, error.message) if part)


def _stale(flow: Mapping[str, Any], latest: LastRun | None, rules: Rules, now: int) -> str | None:
    """Why the dataflow is stale, or None: a run started within `stale_after`, or it was
    created within it (or when is not known)."""
    limit = f"limit {format_duration(rules.stale_after)}"
    if latest is not None and latest.started_at is not None:
        age = _age(latest.started_at, now)
        return f"no run for {format_age(age)} ({limit})" if age > rules.stale_after else None
    created = created_at(flow)
    if latest is not None or created is None:
        return None  # a run with no start time, or no creation time: nothing to count from
    age = _age(created, now)
    if age <= rules.stale_after:
        return None
    return f"never ran in the {format_age(age)} since it was created ({limit})"


def _latest(listed: LastRun | None, runs: Sequence[Run]) -> LastRun | None:
    """The last run: the dataflow list's, unless a run read since started later."""
    newest = max(
        (r for r in runs if r.started_at is not None),
        key=lambda r: r.started_at or 0,
        default=None,
    )
    if newest is None or newest.started_at is None:
        return listed
    if listed is not None and (listed.started_at or 0) >= newest.started_at:
        return listed
    return LastRun(
        id=newest.id,
        state=newest.state,
        outcome=newest.outcome,
        started_at=newest.started_at,
        completed_at=None,
    )


def make_window(runs: Sequence[Run], since: int) -> Window:
    """The runs started at `since` (epoch ms) or later, oldest first, and their totals."""
    kept = sorted(
        (r for r in runs if r.started_at is None or r.started_at >= since),
        key=lambda r: (r.started_at or 0, r.id),
    )
    activated = sum(r.activated for r in kept)
    failed = sum(r.failed for r in kept)
    return Window(
        since=since,
        runs=kept,
        succeeded=sum(r.outcome == "success" for r in kept),
        partial=sum(r.outcome == "partial" for r in kept),
        failed_runs=sum(r.outcome == "failed" for r in kept),
        pending=sum(r.outcome == "pending" for r in kept),
        activated=activated,
        excluded=sum(r.excluded for r in kept),
        failed=failed,
        failed_ratio=failed / (activated + failed) if activated + failed else None,
        errors=top_errors(kept),
    )


def top_errors(runs: Sequence[Run], limit: int = TOP_ERRORS) -> list[RunError]:
    """The error codes of `runs` (oldest first), most records first: each with the sum of
    its counts and its newest message."""
    totals: dict[str, RunError] = {}
    for run in runs:
        for error in run.errors:
            seen = totals.get(error.code)
            count = error.count + (seen.count if seen else 0)
            totals[error.code] = RunError(code=error.code, message=error.message, count=count)
    ranked = sorted(totals.values(), key=lambda e: (-e.count, e.code))
    return ranked[:limit]


def status_report(
    target: PlanTarget,
    now: int,
    clock_source: Literal["platform", "local"],
    rules: Rules,
    details: bool,
    dataflows: Sequence[DataflowStatus],
) -> StatusReport:
    failing = [d.name for d in dataflows if d.health == "unhealthy"]
    in_step = sum(d.in_step for d in dataflows)
    return StatusReport(
        target=target,
        now=now,
        clock=clock_source,
        settings=Settings(
            since=rules.since,
            stale_after=rules.stale_after,
            max_failed_ratio=rules.max_failed_ratio,
            details=details,
        ),
        healthy=not failing,
        summary=Summary(
            dataflows=len(dataflows),
            healthy=len(dataflows) - len(failing),
            unhealthy=len(failing),
            in_step=in_step,
            changes_pending=len(dataflows) - in_step,
            failing=failing,
        ),
        dataflows=list(dataflows),
    )


def _age(moment: int | None, now: int) -> int:
    """Whole seconds from `moment` to `now` (both epoch ms); never negative."""
    return max(0, (now - moment) // 1000) if moment is not None else 0
