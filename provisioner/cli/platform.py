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
from provisioner.apply.run import Applier, ApplyReport
from provisioner.cli.group import cli
from provisioner.cli.steps import (
    InvalidManifests,
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
from provisioner.files import write_private
from provisioner.manifest import (
    LoadedManifest,
)
from provisioner.plan.destroy import destroy_plan
from provisioner.plan.model import Plan
from provisioner.plan.saved import check_target, load_plan, refusals
from provisioner.platform.client import PlatformClient
from provisioner.platform.target import Target
from provisioner.render import render_markdown, render_text
from provisioner.state.live import ManagedState

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


def _target(sandbox: str | None, platform_url: str | None, use_emulator: bool) -> Target:
    return select_target(os.environ, platform_url, sandbox, use_emulator)


def _load(paths: tuple[Path, ...], secrets: bool) -> list[LoadedManifest]:
    try:
        loaded = load_manifests(paths, secrets)
    except InvalidManifests as invalid:
        for problem in invalid.problems:
            click.echo(problem.format(), err=True)
        raise
    for warning in loaded.warnings:
        click.echo(warning.format(), err=True)
    return loaded.manifests


def _progress(message: str) -> None:
    """A progress line for people; kept off pipes so machine output stays clean."""
    if sys.stderr.isatty():
        click.echo(message, err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@target_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for people, json for machines, markdown for a pull-request comment.",
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
) -> None:
    """Show what `apply` would change on the platform; changes nothing.

    Reads the live dataflows, their target connections and accounts, and diffs them
    against the manifests in PATHS: audiences by id, attributes by path, order ignored.
    """
    manifests = _load(paths, secrets=True)
    target = _target(sandbox, platform_url, use_emulator)
    _progress(f"Reading {target.where} ...")
    with connect(target, concurrency=concurrency) as client:
        the_plan, _ = plan_for(client, manifests, target, prune)
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
def apply(
    paths: tuple[Path, ...],
    plan_file: Path | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    concurrency: int,
    auto_approve: bool,
    prune: bool,
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
            the_plan, managed = plan_for(client, manifests, target, prune)
            refused = {}
        click.echo(render_text(the_plan, colour=_colour()), nl=False)
        if not the_plan.has_changes:
            return
        _confirm(the_plan, auto_approve)
        report = Applier(client, the_plan, managed, _progress, refused).run()
    _finish(report)


def _saved_plan(
    path: Path, client: PlatformClient, target: Target
) -> tuple[Plan, ManagedState, dict[str, str]]:
    the_plan = load_plan(path)
    check_target(the_plan, plan_target(target))
    managed = read_managed(client)
    return the_plan, managed, refusals(the_plan, managed)


def _confirm(the_plan: Plan, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ProvisionerError(
            "apply needs confirmation: run it on a terminal to answer, or "
            "pass --auto-approve (pipelines)"
        )
    risky = (
        " including DESTRUCTIVE or credential changes"
        if (the_plan.destructive or the_plan.sensitive)
        else ""
    )
    answer = click.prompt(
        f"Apply these changes{risky}? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise ProvisionerError("apply cancelled; nothing was changed")


def _finish(report: ApplyReport) -> None:
    for result in report.failed:
        click.echo(f"error: {result.unit}: {result.message}", err=True)
    done = [r for r in report.results if r.ok]
    click.echo(f"Apply finished: {len(done)} applied, {len(report.failed)} failed.")
    if report.failed:
        raise ProvisionerError(
            f"{len(report.failed)} part(s) of the plan failed (above); "
            "what was applied stays, and running apply again picks up "
            "the rest"
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
        _confirm(the_plan, auto_approve)
        report = Applier(client, the_plan, managed, _progress).run()
    _finish(report)


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
        click.echo(f"Marked {item} as managed by provisioner", err=True)


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _render(the_plan: Plan, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(the_plan.as_json(), indent=2) + "\n"
    if output_format == "markdown":
        return render_markdown(the_plan)
    return render_text(the_plan, colour=_colour())


def _save_plan(the_plan: Plan, path: Path) -> None:
    text = json.dumps(the_plan.sealed().as_json(), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text)
    click.echo(
        f"Saved the plan to {path}; apply it with: provisioner apply --plan {path}", err=True
    )
