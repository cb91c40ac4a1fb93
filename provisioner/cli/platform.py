"""Commands that talk to the platform: plan, apply, destroy, import."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provisioner.apply.adopt import find_flow, import_flow
from provisioner.apply.run import Applier, ApplyReport, unit_of
from provisioner.cli.group import cli
from provisioner.cli.progress import Progress
from provisioner.cli.progress import wanted as progress_wanted
from provisioner.cli.steps import (
    InvalidManifests,
    Scope,
    load_manifests,
    plan_for,
    plan_target,
    read_managed,
)
from provisioner.connect import connect, select_target
from provisioner.errors import (
    EXIT_CHANGES,
    EXIT_OK,
    ProvisionerError,
)
from provisioner.manifest import (
    LoadedManifest,
)
from provisioner.plan.destroy import destroy_plan
from provisioner.plan.model import Plan, Summary
from provisioner.plan.saved import check_target, load_plan, refusals
from provisioner.platform.client import PlatformClient
from provisioner.platform.target import Target
from provisioner.render import render_markdown, render_text
from provisioner.render.safe import for_message, for_terminal
from provisioner.state.managed import ManagedState

F = TypeVar("F", bound=Callable[..., Any])


def target_options(command: F) -> F:
    """--sandbox, --platform-url, --emulator, --concurrency: where to connect, and how."""
    for option in reversed(
        [
            click.option("--sandbox", help="Sandbox name (default: AEP_SANDBOX, else prod)."),
            click.option("--platform-url", help="Platform base URL (default: AEP_PLATFORM_URL)."),
            click.option(
                "--emulator",
                "use_emulator",
                is_flag=True,
                help="Use the embedded emulator in .provisioner/, whatever is configured.",
            ),
            click.option(
                "--concurrency",
                default=4,
                show_default=True,
                type=click.IntRange(1, 16),
                help="Requests in flight at once.",
            ),
        ]
    ):
        command = option(command)
    return command


def only_option(command: F) -> F:
    return click.option(
        "--only",
        multiple=True,
        metavar="NAME",
        help="Restrict the run to this dataflow (repeatable); with --prune, deletions stay "
        "among these names.",
    )(command)


def _target(sandbox: str | None, platform_url: str | None, use_emulator: bool) -> Target:
    return select_target(os.environ, platform_url, sandbox, use_emulator)


def _load(paths: tuple[Path, ...], secrets: bool) -> list[LoadedManifest]:
    try:
        loaded = load_manifests(paths, secrets)
    except InvalidManifests as invalid:
        for problem in invalid.problems:
            click.echo(for_terminal(problem.format()), err=True)
        raise
    for warning in loaded.warnings:
        click.echo(for_terminal(warning.format()), err=True)
    return loaded.manifests


def _progress(message: str) -> None:
    """A progress line for people; kept off pipes so machine output stays clean."""
    if progress_wanted():
        click.echo(message, err=True)


def _carry_out(
    client: PlatformClient,
    the_plan: Plan,
    managed: ManagedState,
    verb: str,
    refused: dict[str, str] | None = None,
) -> ApplyReport:
    units = len({unit_of(c) for c in the_plan.changes})
    progress = Progress(verb, units)
    try:
        return Applier(client, the_plan, managed, progress, refused).run()
    finally:
        progress.close()


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@target_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown", "gitlab-report"]),
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
@click.option(
    "--prune",
    is_flag=True,
    help="Also delete dataflows provisioner manages that no given manifest names.",
)
@only_option
def plan(
    paths: tuple[Path, ...],
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
    against the manifests in PATHS: audiences by id, attributes by path, order ignored.
    """
    manifests = _load(paths, secrets=True)
    target = _target(sandbox, platform_url, use_emulator)
    _progress(f"Reading {target.where} ...")
    with connect(target, concurrency=concurrency) as client:
        the_plan, _ = plan_for(client, manifests, target, Scope(prune, only))
    click.echo(_render(the_plan, output_format), nl=False)
    if out is not None:
        _save_plan(the_plan, out)
    changed = detailed_exitcode and the_plan.has_changes
    click.get_current_context().exit(EXIT_CHANGES if changed else EXIT_OK)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Apply exactly this saved plan (from `plan --out`), refusing it if stale.",
)
@target_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option(
    "--prune",
    is_flag=True,
    help="Also delete dataflows provisioner manages that no given manifest names.",
)
@only_option
@click.option(
    "--force",
    is_flag=True,
    help="Apply even when the plan deletes or replaces more than the safety threshold.",
)
def apply(
    paths: tuple[Path, ...],
    plan_file: Path | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    auto_approve: bool,
    prune: bool,
    only: tuple[str, ...],
    force: bool,
) -> None:
    """Make the platform match the manifests in PATHS (or a saved plan).

    Shows the plan first and asks for `yes` on a terminal; without a terminal it refuses
    unless --auto-approve is given. Each dataflow is applied on its own, read back and
    checked; a failure stops only that dataflow, and a re-run picks up where it stopped.
    """
    if bool(paths) == bool(plan_file):
        raise click.UsageError("give manifest PATHS or --plan FILE (one of the two)")
    if plan_file is not None and prune:
        raise click.UsageError("--prune is decided when the plan is made: `plan --prune --out`")
    manifests = _load(paths, secrets=True) if paths else []
    target = _target(sandbox, platform_url, use_emulator)
    with connect(target, concurrency=concurrency) as client:
        _progress(f"Reading {target.where} ...")
        if plan_file is not None:
            the_plan, managed, refused = _saved_plan(plan_file, client, target)
        else:
            the_plan, managed = plan_for(client, manifests, target, Scope(prune, only))
            refused = {}
        click.echo(render_text(the_plan, colour=_colour()), nl=False)
        if not the_plan.has_changes:
            return
        _guard(the_plan, force)
        _confirm(the_plan, auto_approve, "apply")
        report = _carry_out(client, the_plan, managed, "Applying", refused)
    _finish(report, the_plan)


def _saved_plan(
    path: Path, client: PlatformClient, target: Target
) -> tuple[Plan, ManagedState, dict[str, str]]:
    the_plan = load_plan(path)
    check_target(the_plan, plan_target(target))
    managed = read_managed(client)
    return the_plan, managed, refusals(the_plan, managed)


def _guard(the_plan: Plan, force: bool) -> None:
    """The delete threshold (contract section 3): refused, nothing written, unless --force."""
    over = [w for w in the_plan.warnings if w.kind == "threshold"]
    if over and not force:
        raise ProvisionerError(
            f"{over[0].message}; nothing was changed. Check the manifests and the target, "
            "then run again with --force if this is intended"
        )


def _confirm(the_plan: Plan, auto_approve: bool, command: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ProvisionerError(
            f"{command} needs confirmation: run it on a terminal to answer, or "
            "pass --auto-approve (pipelines)"
        )
    risky = (
        " including DESTRUCTIVE or credential changes"
        if (the_plan.destructive or the_plan.sensitive)
        else ""
    )
    question = "Apply these changes" if command == "apply" else "Destroy these"
    answer = click.prompt(
        f"{question}{risky}? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise ProvisionerError(f"{command} cancelled; nothing was changed")


def _finish(report: ApplyReport, the_plan: Plan) -> None:
    """What was done, counted as the plan counts: its changes, and the units they are in."""
    for result in report.failed:
        click.echo(f"error: {for_terminal(result.unit)}: {for_message(result.message)}", err=True)
    for note in report.notes:
        click.echo(f"Note: {for_message(note)}", err=True)
    failed_units = {r.unit for r in report.failed}
    changes = the_plan.changes
    applied = [c for c in changes if unit_of(c) not in failed_units]
    dataflows = {c.name for c in changes if c.type in ("flow", "target")}
    failed_flows = {u.removeprefix("dataflow ") for u in failed_units if u.startswith("dataflow ")}
    click.echo(
        f"Apply finished: {len(applied)} of {len(changes)} change(s) applied "
        f"({len(dataflows - failed_flows)} of {len(dataflows)} dataflow(s)); "
        f"{len(report.failed)} failed."
    )
    if report.failed:
        raise ProvisionerError(
            f"{len(report.failed)} part(s) of the plan failed (above); what was applied stays, "
            "and running the command again picks up the rest"
        )


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@target_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
def destroy(
    paths: tuple[Path, ...],
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    auto_approve: bool,
) -> None:
    """Delete the dataflows the manifests in PATHS name, then the target connections and
    accounts no remaining dataflow uses. Needs no secrets."""
    manifests = _load(paths, secrets=False)
    target = _target(sandbox, platform_url, use_emulator)
    with connect(target, concurrency=concurrency) as client:
        managed = read_managed(client)
        names = [m.manifest.name for m in manifests]
        the_plan = destroy_plan(names, managed, plan_target(target))
        click.echo(render_text(the_plan, colour=_colour()), nl=False)
        if not the_plan.has_changes:
            return
        _confirm(the_plan, auto_approve, "destroy")
        report = _carry_out(client, the_plan, managed, "Destroying")
    _finish(report, the_plan)


@cli.command(name="import")
@click.option("--flow-id", help="The live dataflow's id.")
@click.option("--name", help="The live dataflow's name (must be unique in the sandbox).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the manifest here (default: standard output).",
)
@target_options
def import_(
    flow_id: str | None,
    name: str | None,
    output: Path | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
) -> None:
    """Write a manifest for a live dataflow and bring it under management.

    Credentials become ${env:…} references with suggested names (the platform never
    returns secrets). The dataflow's target connection and account, and the profile source
    if the sandbox has none managed yet, are marked as managed (their descriptions), so
    `plan` of the new manifest finds them.
    """
    if bool(flow_id) == bool(name):
        raise click.UsageError("give --flow-id ID or --name NAME (one of the two)")
    target = _target(sandbox, platform_url, use_emulator)
    click.echo(target.describe(), err=True)
    with connect(target, concurrency=concurrency) as client:
        flow = find_flow(client, flow_id, name)
        text, marked = import_flow(client, flow)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    for item in marked:
        click.echo(f"Marked {for_terminal(item)} as managed by provisioner", err=True)


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _render(the_plan: Plan, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(the_plan.as_json(), indent=2) + "\n"
    if output_format == "markdown":
        return render_markdown(the_plan)
    if output_format == "gitlab-report":
        return json.dumps(gitlab_report(the_plan.summary)) + "\n"
    return render_text(the_plan, colour=_colour())


def gitlab_report(summary: Summary) -> dict[str, int]:
    """GitLab's Terraform report for the merge-request widget, which knows no replace: a
    replace counts as one create and one delete."""
    return {
        "create": summary.create + summary.replace,
        "update": summary.update,
        "delete": summary.delete + summary.replace,
    }


def _save_plan(the_plan: Plan, path: Path) -> None:
    text = json.dumps(the_plan.sealed().as_json(), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    click.echo(
        f"Saved the plan to {path}; apply it with: provisioner apply --plan {path}", err=True
    )
