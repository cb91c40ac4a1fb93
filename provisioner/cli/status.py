"""`provisioner status`, and the wait of `apply --wait-healthy`.

What `status` reads: what `plan` reads (the same requests: the plan's verdict comes from the
same code), and beside it one request for the platform's clock (its `Date` header: ages and
staleness are counted on the platform's time, which the emulator's `advance` moves) and one
list of the sandbox's failed runs in the window; then, for each dataflow that needs detail,
one list of its runs in the window, read concurrently through the client's shared limiter.
The judging is `provisioner.health`'s; the renderings are `render/status.py`'s.
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click

from provisioner.apply.run import Result
from provisioner.cli.common import colour, load, paths_argument, progress_line, target_options
from provisioner.cli.context import run_context
from provisioner.cli.group import cli
from provisioner.cli.progress import Done, Progress
from provisioner.cli.steps import Scope, named, plan_for, read_managed
from provisioner.connect import connect
from provisioner.errors import EXIT_CHANGES, EXIT_OK, ProvisionerError
from provisioner.health.durations import DurationError, format_duration, parse_duration
from provisioner.health.model import LastRun, Run, StatusReport
from provisioner.health.rules import Observed, Rules, assess, needs_detail, said_by, status_report
from provisioner.health.runs import run_of
from provisioner.health.step import pending_by_dataflow
from provisioner.health.wait import Standing, Wanted, standing, to_wait_for
from provisioner.manifest import LoadedManifest
from provisioner.plan.identity import claim
from provisioner.plan.model import Plan
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import ApiCallError
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID
from provisioner.platform.target import Target
from provisioner.render.status import (
    github_annotations,
    marks_for,
    render_status_json,
    render_status_markdown,
    render_status_text,
)

FORMATS = ["text", "json", "markdown", "github"]
CLOCK_OPERATION = "read the platform's clock"
RUNS_OPERATION = "read a dataflow's runs"
FLOWS_OPERATION = "read the dataflows' last runs"
FAILED_RUNS_OPERATION = "read the sandbox's failed runs"
FAILED_STATES = "failed,Failed,partialSuccess"
# apply --wait-healthy looks at once, then after FIRST_POLL seconds, backing off to MAX_POLL:
# streaming dataflows run hourly, so a look a minute costs little and misses nothing. Module
# settings, so that tests wait milliseconds.
FIRST_POLL = 30.0
MAX_POLL = 60.0
BACKOFF = 1.5


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A duration option's value (`90s`, `15m`, `2h`, `1d`) as seconds."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as error:
        raise click.BadParameter(str(error), ctx, param) from None


class NotHealthy(ProvisionerError):
    """`apply --wait-healthy` saw a failed run, or timed out: exit 2."""

    exit_code = EXIT_CHANGES


@dataclass(frozen=True)
class Clock:
    """The platform's time, as this machine's plus an offset read from a `Date` header."""

    offset_ms: int
    source: Literal["platform", "local"]

    def now(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


@cli.command()
@paths_argument
@target_options
@click.option(
    "--since",
    callback=duration,
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="The window of runs that identities and errors are counted over (90s, 15m, 2h, 1d).",
)
@click.option(
    "--stale-after",
    callback=duration,
    default="3h",
    show_default=True,
    metavar="DURATION",
    help="An enabled dataflow with no run for this long (since its creation, if it never "
    "ran) is unhealthy.",
)
@click.option(
    "--max-failed-ratio",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="The share of identities that may fail over --since (failed / (activated + "
    "failed)) before a dataflow is unhealthy.",
)
@click.option(
    "--details",
    is_flag=True,
    help="Read every dataflow's runs, not only those of the failing and stale.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for machines (schema: `provisioner schema --status`), "
    "markdown for a pull request, github for workflow annotations.",
)
def status(
    paths: tuple[Path, ...],
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    since: int,
    stale_after: int,
    max_failed_ratio: float,
    details: bool,
    output_format: str,
) -> None:
    """Show whether each dataflow of the manifests is delivering: last run, identities, errors.

    One line per manifest, in the manifests' order: enabled or disabled, in step with the
    manifests or with changes pending (the verdict `plan` would give), and its last run's
    state and age. Dataflows that need detail (failing, stale, or all with --details) also
    get their runs over --since: identities activated, excluded and failed, the top error
    codes, and one mark per run. Needs no destination secrets.

    Unhealthy: a failed last run; more than --max-failed-ratio of identities failed over
    --since; enabled, with audiences, and no run for --stale-after; or no dataflow for the
    manifest. Disabled on purpose, or without audiences, is healthy. Exits 0 when all are
    healthy, 2 when some are not, 1 when the status could not be read.
    """
    context = run_context(paths, env_name, sandbox, platform_url, use_emulator)
    manifests = load(context, secrets=False)
    rules = Rules(since=since, stale_after=stale_after, max_failed_ratio=max_failed_ratio)
    progress_line(f"Reading {context.target.where} ...")
    with connect(context.target, concurrency=concurrency) as client:
        read = read_all(client, manifests, context.target, context.scope, since)
        report = judge(client, manifests, read, rules, details)
    _show(report, output_format)
    click.get_current_context().exit(EXIT_OK if report.healthy else EXIT_CHANGES)


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


def platform_clock(client: PlatformClient) -> Clock:
    """The platform's clock, from the `Date` header of one small read; this machine's when
    the platform gives none (or refuses the read)."""
    try:
        response = client.call(CLOCK_OPERATION, "GET", f"/flowSpecs/{DESTINATION_FLOW_SPEC_ID}")
    except ApiCallError:
        return Clock(0, "local")
    received = int(time.time() * 1000)
    try:
        said = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return Clock(0, "local")
    if said.tzinfo is None:
        return Clock(0, "local")
    return Clock(int(said.timestamp() * 1000) - received, "platform")


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


def _show(report: StatusReport, output_format: str) -> None:
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


# apply --wait-healthy --------------------------------------------------------------------


def wait_until_healthy(
    client: PlatformClient,
    scope: Scope,
    manifests: Sequence[LoadedManifest],
    the_plan: Plan,
    skipped: Collection[str],
    began: int,
    timeout: int,
    to_err: bool = False,
) -> None:
    """Wait until every dataflow the apply changed that should run has a successful run
    that started after `began` (epoch ms, the platform's clock); NotHealthy (exit 2) on a
    failed run since, a dataflow gone, or `timeout` seconds passing. The last line goes
    to standard error too with `to_err` (standard output holds `apply`'s JSON then)."""
    wanted = [
        Wanted(
            m.manifest.name, m.manifest.account_key, m.manifest.enabled, len(m.manifest.audiences)
        )
        for m in manifests
    ]
    names = to_wait_for(the_plan, wanted, skipped)
    if not names:
        click.echo("Nothing to wait for: no dataflow changed is enabled with audiences.", err=True)
        return
    ids = _flow_ids(client, scope, manifests, names)
    click.echo(
        f"Waiting up to {format_duration(timeout)} for a successful run of {len(names)} "
        "dataflow(s), started after the apply ...",
        err=True,
    )
    progress = Progress("Waiting for a successful run", Done(len(names), "dataflow(s)"))
    try:
        _poll(client, ids, began, time.monotonic() + timeout, timeout, progress)
    finally:
        progress.close()
    click.echo(
        f"All {len(names)} dataflow(s) delivered: a successful run after the apply.", err=to_err
    )


def _flow_ids(
    client: PlatformClient,
    scope: Scope,
    manifests: Sequence[LoadedManifest],
    names: Sequence[str],
) -> dict[str, str | None]:
    """Name -> the id of the dataflow it names now (None: not found): the dataflows are
    found as `destroy` finds them, by the identity rule, with no audience lookups."""
    managed = read_managed(client, scope)
    claim(named(manifests), managed, check=False)
    found = {name: managed.flows.get(name) for name in names}
    return {name: live.id if live is not None else None for name, live in found.items()}


def _poll(
    client: PlatformClient,
    ids: Mapping[str, str | None],
    began: int,
    deadline: float,
    timeout: int,
    progress: Progress,
) -> None:
    """Look at once, then again and again, backing off, until nothing is left to wait for
    or the deadline (time.monotonic()) passes."""
    waiting = dict(ids)
    pause = FIRST_POLL
    while True:
        still = _look(client, waiting, began, progress)
        if not still:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotHealthy(_timed_out(still, timeout))
        time.sleep(min(pause, left))
        pause = min(pause * BACKOFF, MAX_POLL)


def _look(
    client: PlatformClient, waiting: dict[str, str | None], began: int, progress: Progress
) -> dict[str, Standing]:
    """One look at the dataflows still `waiting` (one list call per 100): those delivered
    leave it; a failed run or a dataflow gone ends the wait. How the rest stand."""
    listed = client.get_by_ids("flows", [i for i in waiting.values() if i], FLOWS_OPERATION)
    by_id = {str(flow["id"]): flow for flow in listed}
    still: dict[str, Standing] = {}
    for name, flow_id in list(waiting.items()):
        state, run = standing(by_id.get(flow_id or ""), began)
        if state == "failed":
            raise NotHealthy(_failed(client, name, flow_id or "", began, run))
        if state == "gone":
            raise NotHealthy(f"dataflow {name} no longer exists; nothing to wait for")
        if state == "delivered":
            del waiting[name]
            progress(Result(f"dataflow {name}", True, ""))
        else:
            still[name] = state
    return still


def _timed_out(still: Mapping[str, Standing], timeout: int) -> str:
    waited = ", ".join(
        f"{name} ({'a run not finished' if state == 'running' else 'no run since the apply'})"
        for name, state in still.items()
    )
    return (
        f"timed out after {format_duration(timeout)} waiting for a successful run of: "
        f"{waited}; see `provisioner status`"
    )


def _failed(
    client: PlatformClient, name: str, flow_id: str, began: int, run: LastRun | None
) -> str:
    """What to say of a run that failed after the apply: its errors, read from its runs."""
    runs = sorted(read_runs(client, [flow_id], began).get(flow_id, []), key=_started)
    own = [r for r in runs if run is not None and r.id == run.id] or runs[-1:]
    errors = [said_by(e) for r in own for e in r.errors][:3]
    said = f": {'; '.join(errors)}" if errors else ""
    return (
        f"dataflow {name}: a run after the apply failed{said}; see `provisioner status`, "
        "fix the destination, and wait for the next run"
    )


def _started(run: Run) -> int:
    return run.started_at or 0
