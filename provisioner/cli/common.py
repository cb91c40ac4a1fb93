"""What the commands that talk to the platform share: options, loading, confirming, and
reporting what apply did."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provisioner.cli.context import RunContext
from provisioner.cli.progress import Progress
from provisioner.cli.progress import wanted as progress_wanted
from provisioner.cli.steps import InvalidManifests, load_manifests
from provisioner.errors import ProvisionerError
from provisioner.manifest import LoadedManifest
from provisioner.plan.model import Plan, unit_of
from provisioner.platform.client import PlatformClient
from provisioner.render.safe import for_message, for_terminal
from provisioner.state.managed import ManagedState

if TYPE_CHECKING:
    from provisioner.apply.run import ApplyReport

F = TypeVar("F", bound=Callable[..., Any])


def target_options(command: F) -> F:
    """--env, --sandbox, --platform-url, --emulator, --concurrency: where, and how."""
    for option in reversed(
        [
            click.option(
                "--env",
                "env_name",
                metavar="NAME",
                help="An environment of provisioner.yaml: its sandbox, ${var:…} values, and "
                "platform URL unless --platform-url or AEP_PLATFORM_URL names one "
                "(default: PROVISIONER_ENV).",
            ),
            click.option("--sandbox", help="Sandbox name (default: AEP_SANDBOX, else prod)."),
            click.option(
                "--platform-url",
                help="Platform base URL (default: AEP_PLATFORM_URL, else the environment's).",
            ),
            click.option(
                "--emulator",
                "use_emulator",
                is_flag=True,
                help="Use the embedded emulator in .provisioner/, whatever is configured.",
            ),
            click.option(
                "--concurrency",
                default=24,
                show_default=True,
                type=click.IntRange(1, 32),
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


def prune_option(command: F) -> F:
    return click.option(
        "--prune",
        is_flag=True,
        help="Also delete dataflows this project manages that no given manifest names.",
    )(command)


def load(context: RunContext, secrets: bool) -> list[LoadedManifest]:
    try:
        loaded = load_manifests(
            context.paths, secrets, variables=context.variables, environment=context.environment
        )
    except InvalidManifests as invalid:
        for problem in invalid.problems:
            click.echo(for_terminal(problem.format()), err=True)
        raise
    for warning in loaded.warnings:
        click.echo(for_terminal(warning.format()), err=True)
    return loaded.manifests


def progress_line(message: str) -> None:
    """A progress line for people; kept off pipes so machine output stays clean."""
    if progress_wanted():
        click.echo(message, err=True)


def carry_out(
    client: PlatformClient,
    the_plan: Plan,
    managed: ManagedState,
    verb: str,
    refused: dict[str, str] | None = None,
) -> ApplyReport:
    units = len({unit_of(c) for c in the_plan.changes})
    progress = Progress(verb, units)
    try:
        # Loaded here: a plan never applies, and starts without the apply engine.
        from provisioner.apply.run import Applier

        return Applier(client, the_plan, managed, progress, refused).run()
    finally:
        progress.close()


def guard(the_plan: Plan, force: bool) -> None:
    """The delete threshold (contract section 3): refused, nothing written, unless --force."""
    over = [w for w in the_plan.warnings if w.kind == "threshold"]
    if over and not force:
        raise ProvisionerError(
            f"{over[0].message}; nothing was changed. Check the manifests and the target, "
            "then run again with --force if this is intended"
        )


def confirm(the_plan: Plan, auto_approve: bool, command: str) -> None:
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


def finish(report: ApplyReport, the_plan: Plan, command: str = "Apply") -> None:
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
        f"{command} finished: {len(applied)} of {len(changes)} change(s) applied "
        f"({len(dataflows - failed_flows)} of {len(dataflows)} dataflow(s)); "
        f"{len(report.failed)} failed."
    )
    if report.failed:
        raise ProvisionerError(
            f"{len(report.failed)} part(s) of the plan failed (above); what was applied stays, "
            "and running the command again picks up the rest"
        )


def colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paths_argument(command: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(command)
