"""What `apply --wait-healthy` waits for, and how each dataflow stands while it waits.

It waits for the dataflows the apply changed (their own changes, or their account's, such
as rotated credentials) that are enabled with audiences in their manifests: disabled and
empty dataflows are not run by the platform, so there is nothing to wait for. Each is done
once its last run started after the apply began and succeeded (wholly or partly: what share
failed is `status`'s to judge). A failed run after the apply ends the wait at once (exit 2):
waiting out the timeout would only delay the news, as the next hourly run is unlikely to
fare better before someone acts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.health.model import LastRun
from provisioner.health.runs import last_run
from provisioner.plan.model import Plan, unit_of

Standing = Literal["delivered", "failed", "running", "waiting", "gone"]


@dataclass(frozen=True)
class Wanted:
    """What the wait needs of a manifest."""

    name: str
    account: str
    enabled: bool
    audiences: int


def to_wait_for(plan: Plan, manifests: list[Wanted], skipped: Collection[str] = ()) -> list[str]:
    """The names, in manifest order, of the dataflows to wait for: changed by `plan` (not
    deleted, and not in a unit that was `skipped`, refused), enabled, with audiences."""
    applied = [c for c in plan.changes if unit_of(c) not in skipped and c.action != "delete"]
    changed = {c.name for c in applied if c.type in ("flow", "target")}
    accounts = {c.name for c in applied if c.type == "account"}
    return [
        m.name
        for m in manifests
        if (m.name in changed or m.account in accounts) and m.enabled and m.audiences > 0
    ]


def standing(flow: Mapping[str, Any] | None, began: int) -> tuple[Standing, LastRun | None]:
    """How a dataflow stands `began` (epoch ms, the platform's clock) after the apply
    began: its last run since then and what it says, or that it has none yet (waiting)."""
    if flow is None:
        return "gone", None
    run = last_run(flow)
    if run is None or run.started_at is None or run.started_at < began:
        return "waiting", None
    if run.outcome in ("success", "partial"):
        return "delivered", run
    if run.outcome == "failed":
        return "failed", run
    return "running", run
