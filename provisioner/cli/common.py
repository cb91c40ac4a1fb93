"""What the commands that talk to the platform share: options, loading, confirming, and
carrying out a plan (`cli/applied.py` says what was done).

Every command module imports this one to declare its options, and a command's `--help`
loads nothing more: what only a run needs (the manifests, the plan's models, the platform
client) is imported inside the functions that run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provisioner.cli.progress import Applied, Progress
from provisioner.cli.progress import wanted as progress_wanted
from provisioner.errors import ProvisionerError

if TYPE_CHECKING:
    from provisioner.apply.run import ApplyReport
    from provisioner.cli.context import RunContext
    from provisioner.manifest import LoadedManifest
    from provisioner.plan.model import Plan
    from provisioner.platform.client import PlatformClient
    from provisioner.state.managed import ManagedState

F = TypeVar("F", bound=Callable[..., Any])

# The formats `plan` and `show` print, as `provisioner.render.formats` renders them (a test
# keeps the two the same): declared here so that the options need not import the renderers.
PLAN_FORMATS = ("text", "json", "markdown", "gitlab-report")
PLAN_FORMATS_HELP = (
    "text for people, json for machines (schema: `provisioner schema --plan`), markdown for "
    "a pull-request comment, gitlab-report for GitLab's merge-request widget."
)


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
            click.option(
                "--sandbox",
                help="Sandbox name (default: the selected environment's, else AEP_SANDBOX, "
                "else prod).",
            ),
            click.option(
                "--platform-url",
                help="Platform base URL (default: AEP_PLATFORM_URL, else the selected "
                "environment's, else Adobe's).",
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


def destroy_only_option(command: F) -> F:
    """`destroy --only`: destroy has no --prune, so its help says nothing of it."""
    return click.option(
        "--only",
        multiple=True,
        metavar="NAME",
        help="Destroy only this dataflow of the given manifests (repeatable).",
    )(command)


def prune_option(command: F) -> F:
    return click.option(
        "--prune",
        is_flag=True,
        help="Also delete dataflows this project manages that no given manifest names.",
    )(command)


def load(context: RunContext, secrets: bool) -> list[LoadedManifest]:
    from provisioner.cli.planning import InvalidManifests, load_manifests
    from provisioner.render.safe import for_terminal

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
    progress = Progress(verb, Applied(the_plan.changes))
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


def confirm(the_plan: Plan, auto_approve: bool, command: str, err: bool = False) -> None:
    """Asks for `yes` on a terminal (on standard error with `err`: standard output holds
    only machine output then), unless auto-approved."""
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
        f"{question}{risky}? Only 'yes' will be accepted", default="", show_default=False, err=err
    )
    if answer.strip() != "yes":
        raise ProvisionerError(f"{command} cancelled; nothing was changed")


def colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paths_argument(command: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(command)
