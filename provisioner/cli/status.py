"""`provisioner status`, the platform's clock, and the wait of `apply --wait-healthy`.

What `status` reads and how it shows it is `cli/status_read.py`'s; the judging is
`provisioner.health`'s. Both, with the models and the platform client they need, are
imported when a command runs: `status --help` loads only click.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from provisioner.cli.common import load, paths_argument, progress_line, target_options
from provisioner.cli.group import cli
from provisioner.cli.progress import Done, Progress
from provisioner.errors import EXIT_CHANGES, EXIT_OK, ProvisionerError
from provisioner.health.durations import DurationError, format_duration, parse_duration

if TYPE_CHECKING:
    from provisioner.cli.planning import Scope
    from provisioner.health.model import LastRun, Run
    from provisioner.health.wait import Standing
    from provisioner.manifest import LoadedManifest
    from provisioner.plan.model import Plan
    from provisioner.platform.client import PlatformClient

FORMATS = ["text", "json", "markdown", "github"]
FLOWS_OPERATION = "read the dataflows' last runs"
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
    from provisioner.cli.context import run_context
    from provisioner.cli.status_read import judge, read_all, show_report
    from provisioner.connect import connect
    from provisioner.health.rules import Rules

    context = run_context(paths, env_name, sandbox, platform_url, use_emulator)
    manifests = load(context, secrets=False)
    rules = Rules(since=since, stale_after=stale_after, max_failed_ratio=max_failed_ratio)
    progress_line(f"Reading {context.target.where} ...")
    with connect(context.target, concurrency=concurrency) as client:
        read = read_all(client, manifests, context.target, context.scope, since)
        report = judge(client, manifests, read, rules, details)
    show_report(report, output_format)
    click.get_current_context().exit(EXIT_OK if report.healthy else EXIT_CHANGES)


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
    from provisioner.health.wait import Wanted, to_wait_for

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
    from provisioner.cli.planning import named, read_managed
    from provisioner.plan.identity import claim

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
    from provisioner.apply.run import Result
    from provisioner.health.wait import standing

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
    from provisioner.cli.status_read import read_runs
    from provisioner.health.rules import said_by

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
