"""Runs as the platform writes them, read into the status's types.

A dataflow's `lastRunDetails` (`{id, state, startedAtUTC, completedAtUTC}`) and the runs of
`GET /runs` (`metrics.durationSummary`, `recordSummary`, `statusSummary`) are not checked
by the client's shape checks (no decision of the tool's rests on them), so every field is
read here as it may come: absent, null, or of another type. A field that is not what it
should be reads as not given, never as an error: a run's odd field must not hide the status
of the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.health.model import LastRun, Outcome, Run, RunError

TEXT_LIMIT = 1000  # a platform string kept in the report is cut to this
_OUTCOMES: dict[str, Outcome] = {
    "success": "success",
    "succeeded": "success",
    "partialsuccess": "partial",
    "failed": "failed",
    "failure": "failed",
}


def outcome_of(state: object) -> Outcome:
    """What a run state means, compared without case: every spelling not known to be a
    success or a failure (`Processing`, `Waiting`, `inProgress`, anything new) is a run
    that has not finished."""
    if not isinstance(state, str):
        return "pending"
    return _OUTCOMES.get(state.strip().lower().replace("_", ""), "pending")


def last_run(flow: Mapping[str, Any]) -> LastRun | None:
    """The dataflow's last run, from its `lastRunDetails`; None when it never ran."""
    details = _mapping(flow.get("lastRunDetails"))
    if not details:
        return None
    state = _text(details.get("state"))
    return LastRun(
        id=_text(details.get("id")),
        state=state,
        outcome=outcome_of(state),
        started_at=epoch_ms(details.get("startedAtUTC")),
        completed_at=epoch_ms(details.get("completedAtUTC")),
    )


def run_of(resource: Mapping[str, Any]) -> Run:
    """One run of `GET /runs`: its state, when it started, and the identities it counted."""
    metrics = _mapping(resource.get("metrics"))
    duration = _mapping(metrics.get("durationSummary"))
    records = _mapping(metrics.get("recordSummary"))
    status = _mapping(metrics.get("statusSummary"))
    state = _text(status.get("status"))
    started = epoch_ms(duration.get("startedAtUTC"))
    output = _count(records.get("outputRecordCount"))
    activated = (
        output
        if output is not None
        else (_count(records.get("createdRecordCount")) or 0)
        + (_count(records.get("updatedRecordCount")) or 0)
    )
    return Run(
        id=_text(resource.get("id")),
        state=state,
        outcome=outcome_of(state),
        started_at=started if started is not None else epoch_ms(resource.get("createdAt")),
        activated=activated,
        excluded=_count(records.get("skippedRecordCount")) or 0,
        failed=_count(records.get("failedRecordCount")) or 0,
        errors=list(_errors(status.get("errors"))),
    )


def created_at(flow: Mapping[str, Any]) -> int | None:
    return epoch_ms(flow.get("createdAt"))


def is_enabled(flow: Mapping[str, Any]) -> bool:
    state = flow.get("state")
    return isinstance(state, str) and state.strip().lower() == "enabled"


def epoch_ms(value: object) -> int | None:
    """Epoch milliseconds: a non-negative whole number (a float that is one, as some JSON
    encoders write it, too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return None
    return int(value) if value >= 0 else None


def _errors(value: object) -> Iterable[RunError]:
    if not isinstance(value, list):
        return
    for item in value:
        error = _mapping(item)
        code, message = _text(error.get("code")), _text(error.get("message"))
        if code or message:
            yield RunError(code=code, message=message, count=_count(error.get("count")) or 0)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _text(value: object) -> str:
    return value[:TEXT_LIMIT] if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
