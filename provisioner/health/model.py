"""The status of the manifests' dataflows: what `status` reports, typed.

Its JSON form is what `status --format json` prints and `schemas/status.schema.json`
describes (`provisioner schema --status`): every field is always written, timestamps are
the platform's (epoch milliseconds), durations are seconds. Strings that came from the
platform (run states, error codes and messages) are kept as it wrote them, cut to a bounded
length; the renderings make them inert where they print them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner import __version__
from provisioner.plan.model import PlanTarget

FORMAT_VERSION: Literal["1"] = "1"
# What a run's state means here. The platform writes states in several spellings (its schema
# says Success|Processing|Waiting|Failed, real runs say success, failed, inProgress and, in
# lastRunDetails, partialSuccess): anything but a success or a failure is not finished.
Outcome = Literal["success", "partial", "failed", "pending"]
OUTCOMES: tuple[Outcome, ...] = ("success", "partial", "failed", "pending")
Rule = Literal["missing", "failed-run", "failed-ratio", "stale"]
Health = Literal["healthy", "unhealthy"]


class Model(BaseModel):
    # Every field is always written, so the published schema marks them all required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class RunError(Model):
    """An error a run recorded (`metrics.statusSummary.errors[]`), or the sum of one code's
    over the window."""

    code: str
    message: str
    count: int = Field(ge=0, description="Records (identities) it concerns.")


class LastRun(Model):
    """A dataflow's `lastRunDetails`, as the dataflow list carries it."""

    id: str
    state: str = Field(description="The state as the platform wrote it.")
    outcome: Outcome
    started_at: int | None = Field(description="Epoch ms.")
    completed_at: int | None = Field(description="Epoch ms.")


class Run(Model):
    """One run of the window (`GET /runs`)."""

    id: str
    state: str = Field(description="`metrics.statusSummary.status` as the platform wrote it.")
    outcome: Outcome
    started_at: int | None = Field(description="Epoch ms.")
    activated: int = Field(
        ge=0, description="outputRecordCount, else createdRecordCount + updatedRecordCount."
    )
    excluded: int = Field(ge=0, description="skippedRecordCount.")
    failed: int = Field(ge=0, description="failedRecordCount.")
    errors: list[RunError]


class Window(Model):
    """The runs read for a dataflow that needed detail, and their totals."""

    since: int = Field(description="Epoch ms: runs started from then on are counted.")
    runs: list[Run] = Field(description="Oldest first.")
    succeeded: int
    partial: int
    failed_runs: int
    pending: int
    activated: int
    excluded: int
    failed: int
    failed_ratio: float | None = Field(
        description="failed / (activated + failed): the share of the identities the runs "
        "tried to deliver that failed; null when they tried none."
    )
    errors: list[RunError] = Field(description="The most frequent error codes, most first.")


class Finding(Model):
    """Why a dataflow is unhealthy: one per rule it breaks."""

    rule: Rule
    message: str


class DataflowStatus(Model):
    name: str = Field(description="The manifest's name.")
    source: str = Field(description="Where the manifest names it (FILE:LINE:COL).")
    id: str | None = Field(description="The dataflow's id; null when it does not exist.")
    enabled: bool | None = Field(description="The live state; null when it does not exist.")
    wanted_enabled: bool = Field(description="What the manifest says.")
    audiences: int = Field(ge=0, description="Audiences the live dataflow activates.")
    expected_to_run: bool = Field(
        description="Enabled (live or in the manifest) with audiences: judged on its runs."
    )
    in_step: bool = Field(description="Whether `plan` has nothing to change for it.")
    pending: list[str] = Field(description="What `plan` would change for it, in words.")
    created_at: int | None = Field(description="Epoch ms.")
    last_run: LastRun | None
    last_run_age: int | None = Field(description="Seconds since the last run started.")
    health: Health
    findings: list[Finding]
    note: str = Field(description="Why it is not judged on runs, or that it never ran.")
    window: Window | None = Field(description="Its runs, when they were read.")


class Settings(Model):
    since: int = Field(description="Seconds: the window of runs (--since).")
    stale_after: int = Field(description="Seconds without a run that make a dataflow stale.")
    max_failed_ratio: float
    details: bool = Field(description="Whether every dataflow's runs were read (--details).")


class Summary(Model):
    dataflows: int
    healthy: int
    unhealthy: int
    in_step: int
    changes_pending: int
    failing: list[str] = Field(description="The unhealthy dataflows' names, in manifest order.")


class StatusReport(Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        title="provisioner status",
    )

    format_version: Literal["1"] = FORMAT_VERSION
    tool_version: str = __version__
    target: PlanTarget
    now: int = Field(description="Epoch ms: the moment ages are counted from.")
    clock: Literal["platform", "local"] = Field(
        description="platform: read from the platform's Date header; local: this machine's."
    )
    settings: Settings
    healthy: bool
    summary: Summary
    dataflows: list[DataflowStatus] = Field(description="In the manifests' order.")

    def failing(self) -> list[DataflowStatus]:
        return [d for d in self.dataflows if d.health == "unhealthy"]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def status_json_schema() -> dict[str, Any]:
    """The schema of the JSON `status --format json` prints."""
    return StatusReport.model_json_schema(mode="serialization")
