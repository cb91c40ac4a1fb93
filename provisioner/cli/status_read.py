"""What `provisioner status` reads and how it shows it (the command: `cli/status.py`).

What `status` reads: what `plan` reads (the same requests: the plan's verdict comes from the
same code), and beside it one request for the platform's clock (its `Date` header: ages and
staleness are counted on the platform's time, which the emulator's `advance` moves) and one
list of the sandbox's failed runs in the window; then, for each dataflow that needs detail,
one list of its runs in the window, read concurrently through the client's shared limiter.
The judging is `provisioner.health`'s; the renderings are `render/status.py`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import click

from provisioner.cli.common import colour
from provisioner.cli.planning import Scope, plan_for
from provisioner.health.model import Run, StatusReport
from provisioner.health.platform_time import Clock, platform_clock
from provisioner.health.rules import Observed, Rules, assess, needs_detail, status_report
from provisioner.health.runs import run_of
from provisioner.health.step import pending_by_dataflow
from provisioner.manifest import LoadedManifest
from provisioner.plan.model import Plan
from provisioner.platform.client import PlatformClient
from provisioner.platform.target import Target
from provisioner.render.status import (
    github_annotations,
    marks_for,
    render_status_json,
    render_status_markdown,
    render_status_text,
)

RUNS_OPERATION = "read a dataflow's runs"
FAILED_RUNS_OPERATION = "read the sandbox's failed runs"
FAILED_STATES = "failed,Failed,partialSuccess"


@dataclass(frozen=True)
class Read:
    """What `status` reads before it judges."""

    plan: Plan
    flows: dict[str, dict[str, Any]]  # manifest name -> its live dataflow
    now: int  # epoch ms, by `clock`: the moment every age is counted from
    clock: Clock
    failed_lately: frozenset[str]  # ids of the dataflows with a failed run in the window


def read_all(
    client: PlatformClient,
    manifests: Sequence[LoadedManifest],
    target: Target,
    scope: Scope,
    since: int,
) -> Read:
    """The plan (and the live dataflow of each manifest it claimed); beside it, the
    platform's clock, then which dataflows failed in the window of `since` seconds."""

    def clock_and_failures() -> tuple[Clock, int, frozenset[str]]:
        clock = platform_clock(client)
        now = clock.now()
        return clock, now, failed_lately(client, now - since * 1000)

    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(clock_and_failures)
        the_plan, managed = plan_for(client, manifests, target, scope)
        clock, now, failed = beside.result()
    names = {m.manifest.name for m in manifests}
    flows = {name: live.flow for name, live in managed.flows.items() if name in names}
    return Read(the_plan, flows, now, clock, failed)


def judge(
    client: PlatformClient,
    manifests: Sequence[LoadedManifest],
    read: Read,
    rules: Rules,
    details: bool,
) -> StatusReport:
    """Each manifest's status: the plan's verdict, its dataflow's last run, and the runs of
    those that need detail."""
    accounts = {m.manifest.name: m.manifest.account_key for m in manifests}
    pending = pending_by_dataflow(read.plan, accounts)
    flows = read.flows
    now = read.now
    observed = [
        Observed(
            name=m.manifest.name,
            source=str(m.locate("name")[0]),
            wanted_enabled=m.manifest.enabled,
            wanted_audiences=len(m.manifest.audiences),
            flow=flows.get(m.manifest.name),
            pending=pending.get(m.manifest.name, []),
        )
        for m in manifests
    ]
    detailed = [
        str(o.flow["id"])
        for o in observed
        if o.flow is not None
        and (details or needs_detail(o, rules, now, str(o.flow["id"]) in read.failed_lately))
    ]
    runs = read_runs(client, detailed, now - rules.since * 1000)
    statuses = [
        assess(o, rules, now, runs.get(str(o.flow["id"])) if o.flow is not None else None)
        for o in observed
    ]
    return status_report(read.plan.target, now, read.clock.source, rules, details, statuses)


def failed_lately(client: PlatformClient, since: int) -> frozenset[str]:
    """The ids of the dataflows with a run that failed, wholly or partly, from `since`
    (epoch ms) on: one list of the sandbox's runs, filtered on the status as the runs API
    documents (in the spellings seen: the schema's and real runs')."""
    filters = [f"metrics.statusSummary.status=={FAILED_STATES}", f"createdAt>={since}"]
    runs = client.list_all("runs", filters, FAILED_RUNS_OPERATION)
    return frozenset(str(run["flowId"]) for run in runs if isinstance(run.get("flowId"), str))


def read_runs(client: PlatformClient, flow_ids: Sequence[str], since: int) -> dict[str, list[Run]]:
    """Each dataflow's runs started from `since` (epoch ms) on: one list each, concurrently."""
    if not flow_ids:
        return {}

    def fetch(flow_id: str) -> tuple[str, list[Run]]:
        filters = [f"flowId=={flow_id}", f"createdAt>={since}"]
        return flow_id, [run_of(item) for item in client.list_all("runs", filters, RUNS_OPERATION)]

    with ThreadPoolExecutor(max_workers=min(client.concurrency, len(flow_ids))) as pool:
        return dict(pool.map(fetch, flow_ids))


def show_report(report: StatusReport, output_format: str) -> None:
    # The encoding of where the report goes (a pipe's or a file's may not be UTF-8).
    marks = marks_for(getattr(sys.stdout, "encoding", None))
    if output_format == "json":
        click.echo(render_status_json(report), nl=False)
    elif output_format == "markdown":
        click.echo(render_status_markdown(report, marks), nl=False)
    elif output_format == "github":
        for line in github_annotations(report):
            click.echo(line)  # one write each: the runner reads a command per line
        click.echo(render_status_text(report, marks=marks), nl=False)
    else:
        click.echo(render_status_text(report, colour=colour(), marks=marks), nl=False)
