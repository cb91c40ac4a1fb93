"""`provisioner apply`: make the platform match the manifests, then say what was done.

What the command needs to run is imported when it runs: its `--help` loads only click.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from provisioner.cli.common import (
    carry_out,
    colour,
    confirm,
    guard,
    load,
    only_option,
    paths_argument,
    progress_line,
    prune_option,
    target_options,
)
from provisioner.cli.group import cli
from provisioner.cli.show import load_saved_plan

if TYPE_CHECKING:
    from provisioner.cli.context import RunContext
    from provisioner.manifest import LoadedManifest
    from provisioner.plan.model import Plan
    from provisioner.platform.client import PlatformClient

APPLY_FORMATS = ("text", "json")


def _wait_timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """--wait-healthy's TIMEOUT in seconds. An optional value takes the next word, so a path
    written after the bare option is read as one: the message says where to put it."""
    if value is None:
        return None
    from provisioner.health.durations import DurationError, parse_duration

    try:
        return parse_duration(value)
    except DurationError as error:
        raise click.BadParameter(
            f"{error} (give the timeout as --wait-healthy=TIMEOUT, or the option after the paths)",
            ctx,
            param,
        ) from None


@cli.command()
@paths_argument
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Apply only what this saved plan (from `plan --out`) and a fresh plan agree on.",
)
@target_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@prune_option
@only_option
@click.option(
    "--force",
    is_flag=True,
    help="Apply even when the plan deletes or replaces more than the safety threshold.",
)
@click.option(
    "--wait-healthy",
    "wait_healthy",
    is_flag=False,
    flag_value="75m",
    default=None,
    metavar="[TIMEOUT]",
    callback=_wait_timeout,
    help="After applying, wait until every changed, enabled dataflow with audiences has a "
    "successful run started after the apply: up to 75m, or TIMEOUT given with '=' (such as "
    "=2h). Exit 2 at a failed run or at the timeout.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(APPLY_FORMATS),
    default="text",
    show_default=True,
    help="text for people; json for machines (schema: `provisioner schema --apply`): each "
    "object with its id and how it ended, on standard output, and the rest on standard "
    "error.",
)
def apply(
    paths: tuple[Path, ...],
    plan_file: Path | None,
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    auto_approve: bool,
    prune: bool,
    only: tuple[str, ...],
    force: bool,
    wait_healthy: int | None,
    output_format: str,
) -> None:
    """Make the platform match the manifests in PATHS (default: the project's manifests).

    Shows the plan first and asks for `yes` on a terminal; without a terminal it refuses
    unless --auto-approve is given. Each dataflow is applied on its own, read back and
    checked; a failure stops only that dataflow, and a re-run picks up where it stopped.
    Then one line per object says how it ended, with its id.

    With --plan FILE it plans again, exactly as `plan` does (same PATHS, --env, --prune,
    --only), and carries out only what both plans agree on: a dataflow whose fresh plan
    differs from the reviewed one is refused, and a plan made for another target or
    options, or holding changes from manifests not given here, is refused whole. Etags
    are not compared: the platform moves them on its own after every run.

    With --wait-healthy it then waits for the changed dataflows' first runs (see
    `provisioner status`): a failed run ends the wait at once.
    """
    from provisioner.cli.applied import finish, result_of
    from provisioner.cli.context import run_context
    from provisioner.cli.planning import plan_for
    from provisioner.connect import connect
    from provisioner.plan.saved import check_inputs, plan_inputs, portable
    from provisioner.render import render_text
    from provisioner.render.applied import apply_result

    context = run_context(paths, env_name, sandbox, platform_url, use_emulator, prune, only)
    saved = load_saved_plan(plan_file) if plan_file is not None else None
    manifests = load(context, secrets=True)
    inputs = plan_inputs(manifests, context.root)
    if saved is not None:  # before any request: a reviewed change must not go unseen
        check_inputs(saved, inputs)
    as_json = output_format == "json"
    with connect(context.target, concurrency=concurrency) as client:
        progress_line(f"Reading {context.target.where} ...")
        the_plan, managed = plan_for(client, manifests, context.target, context.scope)
        the_plan = the_plan.with_inputs(inputs)
        refused = _refused(saved, the_plan, context)
        # With --format json, standard output holds the JSON alone: people read the plan
        # on standard error.
        click.echo(render_text(the_plan, colour=colour() and not as_json), nl=False, err=as_json)
        # What the result says leaves the machine: no local path in it (as `plan` JSON).
        shown = portable(the_plan, context.root)
        if not the_plan.has_changes and not refused:
            if as_json:
                finish(apply_result("apply", shown, {}), output_format)
            return
        guard(the_plan, force)
        confirm(the_plan, auto_approve, "apply", err=as_json)
        began = _began(client) if wait_healthy is not None else None
        report = carry_out(client, the_plan, managed, "Applying", refused)
        ids_from = (client, context.scope, manifests)
        finish(result_of("apply", shown, report, refused, ids_from), output_format)
        if wait_healthy is not None and began is not None:
            _wait(client, context, manifests, the_plan, refused, began, wait_healthy, as_json)


def _refused(saved: Plan | None, the_plan: Plan, context: RunContext) -> dict[str, str]:
    """What a saved plan and the fresh one disagree on (nothing without a saved plan)."""
    if saved is None:
        return {}
    from provisioner.plan.saved import check_same_run, portable, refusals

    fresh = portable(the_plan, context.root)
    check_same_run(saved, fresh)
    return refusals(saved, fresh)


def _began(client: PlatformClient) -> int:
    """The platform's time before the apply: the runs a wait counts start after it."""
    from provisioner.health.platform_time import platform_clock  # only a wait needs it

    return platform_clock(client).now()


def _wait(
    client: PlatformClient,
    context: RunContext,
    manifests: list[LoadedManifest],
    the_plan: Plan,
    refused: dict[str, str],
    began: int,
    timeout: int,
    quiet: bool,
) -> None:
    from provisioner.cli.status import wait_until_healthy

    wait_until_healthy(
        client, context.scope, manifests, the_plan, refused, began, timeout, to_err=quiet
    )
