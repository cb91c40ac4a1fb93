"""Commands that talk to the platform: plan, apply, destroy, import."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from provisioner.cli.common import (
    carry_out,
    colour,
    confirm,
    finish,
    guard,
    load,
    only_option,
    paths_argument,
    progress_line,
    prune_option,
    target_options,
)
from provisioner.cli.context import RunContext, run_context
from provisioner.cli.group import cli
from provisioner.cli.steps import (
    named,
    only_unmatched,
    plan_for,
    plan_target,
    read_managed,
    refuse_unmatched_only,
)
from provisioner.connect import connect
from provisioner.errors import EXIT_CHANGES, EXIT_OK, ProvisionerError
from provisioner.files import write_private
from provisioner.plan.destroy import destroy_plan
from provisioner.plan.model import Plan, Summary
from provisioner.plan.saved import (
    PLAN_KEY_VARIABLE,
    check_inputs,
    check_same_run,
    load_plan,
    plan_inputs,
    portable,
    refusals,
)
from provisioner.render import render_json, render_markdown, render_text
from provisioner.render.safe import for_terminal
from provisioner.state.managed import nfc

FORMATS = ["text", "json", "markdown", "gitlab-report"]


@cli.command()
@paths_argument
@target_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for machines, markdown for a pull-request comment, "
    "gitlab-report for GitLab's merge-request widget.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan (no secrets in it) for `apply --plan FILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would.",
)
@prune_option
@only_option
def plan(
    paths: tuple[Path, ...],
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    output_format: str,
    out: Path | None,
    detailed_exitcode: bool,
    prune: bool,
    only: tuple[str, ...],
) -> None:
    """Show what `apply` would change on the platform; changes nothing.

    Reads the live dataflows, their target connections and accounts, and diffs them
    against the manifests in PATHS (default: the project file's `manifests`): audiences
    by id, attributes by path, order ignored.
    """
    context = run_context(paths, env_name, sandbox, platform_url, use_emulator, prune, only)
    the_plan = _fresh_plan(context, concurrency)
    # What leaves this machine (JSON, Markdown for a comment) holds no local absolute path.
    shown = the_plan if output_format == "text" else portable(the_plan, context.root)
    click.echo(_render(shown, output_format), nl=False)
    if out is not None:
        _save_plan(portable(the_plan, context.root), out)
    changed = detailed_exitcode and the_plan.has_changes
    click.get_current_context().exit(EXIT_CHANGES if changed else EXIT_OK)


def _fresh_plan(context: RunContext, concurrency: int) -> Plan:
    manifests = load(context, secrets=True)
    progress_line(f"Reading {context.target.where} ...")
    with connect(context.target, concurrency=concurrency) as client:
        the_plan, _ = plan_for(client, manifests, context.target, context.scope)
    the_plan.inputs = plan_inputs(manifests, context.root)
    return the_plan


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
) -> None:
    """Make the platform match the manifests in PATHS (default: the project's manifests).

    Shows the plan first and asks for `yes` on a terminal; without a terminal it refuses
    unless --auto-approve is given. Each dataflow is applied on its own, read back and
    checked; a failure stops only that dataflow, and a re-run picks up where it stopped.

    With --plan FILE it plans again, exactly as `plan` does (same PATHS, --env, --prune,
    --only), and carries out only what both plans agree on: a dataflow whose fresh plan
    differs from the reviewed one is refused, and a plan made for another target or
    options, or holding changes from manifests not given here, is refused whole. Etags
    are not compared: the platform moves them on its own after every run.

    With --wait-healthy it then waits for the changed dataflows' first runs (see
    `provisioner status`): a failed run ends the wait at once.
    """
    context = run_context(paths, env_name, sandbox, platform_url, use_emulator, prune, only)
    saved = _load_saved(plan_file) if plan_file is not None else None
    manifests = load(context, secrets=True)
    inputs = plan_inputs(manifests, context.root)
    if saved is not None:  # before any request: a reviewed change must not go unseen
        check_inputs(saved, inputs)
    with connect(context.target, concurrency=concurrency) as client:
        progress_line(f"Reading {context.target.where} ...")
        the_plan, managed = plan_for(client, manifests, context.target, context.scope)
        the_plan.inputs = inputs
        refused = {}
        if saved is not None:
            fresh = portable(the_plan, context.root)
            check_same_run(saved, fresh)
            refused = refusals(saved, fresh)
        click.echo(render_text(the_plan, colour=colour()), nl=False)
        if not the_plan.has_changes and not refused:
            return
        guard(the_plan, force)
        confirm(the_plan, auto_approve, "apply")
        if wait_healthy is None:
            report = carry_out(client, the_plan, managed, "Applying", refused)
        else:
            # Loaded here: only a wait needs the status machinery.
            from provisioner.cli.status import platform_clock, wait_until_healthy

            began = platform_clock(client).now()  # runs that count start after this
            report = carry_out(client, the_plan, managed, "Applying", refused)
            finish(report, the_plan)
            wait_until_healthy(
                client, context.scope, manifests, the_plan, refused, began, wait_healthy
            )
            return
    finish(report, the_plan)


def _load_saved(path: Path) -> Plan:
    key = os.environ.get(PLAN_KEY_VARIABLE)
    return load_plan(path, key.encode() if key else None)


@cli.command()
@paths_argument
@target_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@only_option
def destroy(
    paths: tuple[Path, ...],
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    auto_approve: bool,
    only: tuple[str, ...],
) -> None:
    """Delete the dataflows the manifests in PATHS name, then the target connections and
    accounts no remaining dataflow uses. Needs no secrets."""
    context = run_context(paths, env_name, sandbox, platform_url, use_emulator, only=only)
    manifests = named(load(context, secrets=False))
    wanted = [nfc(n) for n in only]
    chosen = {n: m for n, m in manifests.items() if not wanted or n in wanted}
    with connect(context.target, concurrency=concurrency) as client:
        managed = read_managed(client, context.scope)
        the_plan = destroy_plan(chosen, managed, plan_target(context.target, context.scope))
        names = [*manifests, *managed.flows, *(f.name for f in managed.flows.values())]
        refuse_unmatched_only(only_unmatched(wanted, names), "manifest or managed dataflow")
        click.echo(render_text(the_plan, colour=colour()), nl=False)
        if not the_plan.has_changes:
            return
        confirm(the_plan, auto_approve, "destroy")
        report = carry_out(client, the_plan, managed, "Destroying")
    finish(report, the_plan, "Destroy")


@cli.command(name="import")
@click.option("--flow-id", help="The live dataflow's id.")
@click.option("--name", help="The live dataflow's name (must be unique in the sandbox).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the manifest here (default: standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite the --output file if it exists.")
@target_options
def import_(
    flow_id: str | None,
    name: str | None,
    output: Path | None,
    force: bool,
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
) -> None:
    """Write a manifest for a live dataflow and bring it under management.

    Credentials become ${env:…} references with suggested names (the platform never
    returns secrets). The dataflow's account is marked as this project's, and its target
    connection and the profile source where the platform allows it, so `plan` of the new
    manifest finds them.
    """
    if bool(flow_id) == bool(name):
        raise click.UsageError("give --flow-id ID or --name NAME (one of the two)")
    if output is not None and output.exists() and not force:
        raise ProvisionerError(f"{output} exists; pass --force to overwrite it")
    from provisioner.apply.adopt import find_flow, import_flow  # only `import` needs it

    context = run_context((), env_name, sandbox, platform_url, use_emulator, need_paths=False)
    click.echo(context.target.describe(), err=True)
    with connect(context.target, concurrency=concurrency) as client:
        flow = find_flow(client, flow_id, name)
        managed = read_managed(client, context.scope).flow_by_id(str(flow["id"]))
        if managed is not None and managed.marked:
            click.echo(
                f"Warning: dataflow {for_terminal(managed.key)} is already managed by "
                "provisioner; its manifest may exist already",
                err=True,
            )
        schema_from = output.parent if output is not None else Path.cwd()
        text, adopted = import_flow(
            client, flow, schema_from, context.scope.project, context.scope.environment
        )
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_private(output, text)
        click.echo(f"Wrote {output}", err=True)
    for item in adopted.marked:
        click.echo(f"Marked {for_terminal(item)} as managed by provisioner", err=True)
    for note in adopted.notes:
        click.echo(f"Note: {for_terminal(note)}", err=True)


def _render(the_plan: Plan, output_format: str) -> str:
    if output_format == "json":
        return render_json(the_plan)
    if output_format == "markdown":
        return render_markdown(the_plan)
    if output_format == "gitlab-report":
        return json.dumps(gitlab_report(the_plan.summary)) + "\n"
    return render_text(the_plan, colour=colour())


def gitlab_report(summary: Summary) -> dict[str, int]:
    """GitLab's Terraform report for the merge-request widget, which knows no replace: a
    replace counts as one create and one delete."""
    return {
        "create": summary.create + summary.replace,
        "update": summary.update,
        "delete": summary.delete + summary.replace,
    }


def _save_plan(the_plan: Plan, path: Path) -> None:
    key = os.environ.get(PLAN_KEY_VARIABLE)
    text = json.dumps(the_plan.sealed(key.encode() if key else None).as_json(), indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text + "\n")
    click.echo(
        f"Saved the plan to {path}; apply it with: provisioner apply --plan {path}", err=True
    )
