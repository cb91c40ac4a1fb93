"""Commands that talk to the platform: plan, destroy, import (apply: `cli/apply.py`).

What a command needs to run is imported when it runs: its `--help` loads only click.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from provisioner.cli.common import (
    PLAN_FORMATS,
    PLAN_FORMATS_HELP,
    carry_out,
    colour,
    confirm,
    destroy_only_option,
    load,
    only_option,
    paths_argument,
    progress_line,
    prune_option,
    target_options,
)
from provisioner.cli.group import cli
from provisioner.errors import EXIT_CHANGES, EXIT_OK, ProvisionerError
from provisioner.files import write_private

if TYPE_CHECKING:
    from provisioner.cli.context import RunContext
    from provisioner.plan.model import Plan
    from provisioner.preflight.model import CheckReport


@cli.command()
@paths_argument
@target_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(PLAN_FORMATS),
    default="text",
    show_default=True,
    help=PLAN_FORMATS_HELP,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan (no secrets in it) for `apply --plan FILE` and `show FILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would.",
)
@click.option(
    "--check-destinations",
    is_flag=True,
    help="Also ask each destination, with its credentials, whether its stream or hub "
    "exists and takes them, as `check` does (read-only); exit 1 if one is not reachable. "
    "Needs pip install 'provisioner[check]'.",
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
    check_destinations: bool,
    prune: bool,
    only: tuple[str, ...],
) -> None:
    """Show what `apply` would change on the platform; changes nothing.

    Reads the live dataflows, their target connections and accounts, and diffs them
    against the manifests in PATHS (default: the project file's `manifests`): audiences
    by id, attributes by path, order ignored.
    """
    from provisioner.cli.context import run_context
    from provisioner.plan.saved import portable
    from provisioner.render.formats import render_plan

    context = run_context(paths, env_name, sandbox, platform_url, use_emulator, prune, only)
    the_plan, checked = _fresh_plan(context, concurrency, check_destinations)
    # What leaves this machine (JSON, Markdown for a comment) holds no local absolute path.
    shown = the_plan if output_format == "text" else portable(the_plan, context.root)
    click.echo(render_plan(shown, output_format, colour=colour()), nl=False)
    if out is not None:
        _save_plan(portable(the_plan, context.root), out)
    if checked is not None:
        _refuse_unreachable(checked, output_format)
    changed = detailed_exitcode and the_plan.has_changes
    click.get_current_context().exit(EXIT_CHANGES if changed else EXIT_OK)


def _fresh_plan(
    context: RunContext, concurrency: int, check_destinations: bool = False
) -> tuple[Plan, CheckReport | None]:
    """The plan of the manifests against the live platform; with `check_destinations`,
    also what the destinations answered, asked while the platform is read."""
    from provisioner.cli.check import checked_meanwhile
    from provisioner.cli.planning import plan_for
    from provisioner.connect import connect
    from provisioner.plan.saved import plan_inputs

    manifests = load(context, secrets=True)
    asking = checked_meanwhile(manifests) if check_destinations else nullcontext(None)
    with asking as answers:
        progress_line(f"Reading {context.target.where} ...")
        with connect(context.target, concurrency=concurrency) as client:
            the_plan, _ = plan_for(client, manifests, context.target, context.scope)
        checked = answers() if answers is not None else None
    return the_plan.with_inputs(plan_inputs(manifests, context.root)), checked


def _refuse_unreachable(checked: CheckReport, output_format: str) -> None:
    """The destinations' answers shown; a plan whose destination would not take the
    platform's writes fails the job, after the plan is shown and saved."""
    from provisioner.cli.check import show_beside_plan

    show_beside_plan(checked, output_format)
    if not checked.all_reachable:
        raise ProvisionerError(
            f"{checked.count['unreachable']} destination(s) not reachable (see the check above); "
            "`provisioner check` asks again"
        )


@cli.command()
@paths_argument
@target_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@destroy_only_option
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
    from provisioner.cli.applied import finish, result_of
    from provisioner.cli.context import run_context
    from provisioner.cli.planning import (
        named,
        only_unmatched,
        plan_target,
        read_managed,
        refuse_unmatched_only,
    )
    from provisioner.connect import connect
    from provisioner.plan.destroy import destroy_plan
    from provisioner.render import render_text
    from provisioner.state.managed import nfc

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
    finish(result_of("destroy", the_plan, report))


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
    from provisioner.apply.adopt import find_flow, import_flow
    from provisioner.cli.context import run_context
    from provisioner.cli.planning import read_managed
    from provisioner.connect import connect
    from provisioner.render.safe import for_terminal

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


def _save_plan(the_plan: Plan, path: Path) -> None:
    from provisioner.plan.saved import PLAN_KEY_VARIABLE

    key = os.environ.get(PLAN_KEY_VARIABLE)
    text = json.dumps(the_plan.sealed(key.encode() if key else None).as_json(), indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text + "\n")
    click.echo(
        f"Saved the plan to {path}; apply it with: provisioner apply --plan {path}", err=True
    )
