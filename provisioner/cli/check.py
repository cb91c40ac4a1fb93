"""`provisioner check`: ask each destination itself, before the platform finds out hours later.

Nothing of the platform is read: the manifests are loaded as `plan` loads them (the project
file, `--env` and its `${var:…}` values, the secrets the operator allows), and each
destination is asked with its resolved credentials through its cloud SDK (`preflight`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from provisioner.cli.common import colour, load, paths_argument, progress_line
from provisioner.cli.group import cli
from provisioner.errors import EXIT_CHANGES, EXIT_OK
from provisioner.health.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from provisioner.manifest import LoadedManifest
    from provisioner.preflight.model import CheckReport

FORMATS = ["text", "json", "github"]
# `plan --check-destinations` asks as `check` does by default: read-only, 20 s, 8 at once.
BESIDE_PLAN_TIMEOUT = 20.0
BESIDE_PLAN_WORKERS = 8


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value)
    except DurationError as error:
        raise click.BadParameter(str(error), ctx, param) from None


@cli.command()
@paths_argument
@click.option(
    "--env",
    "env_name",
    metavar="NAME",
    help="An environment of provisioner.yaml: its ${var:…} values (default: PROVISIONER_ENV).",
)
@click.option(
    "--send-test-record",
    is_flag=True,
    help="Also write one record, in the shape the platform exports and marked as a test, to "
    "each destination that answers: proof the platform's writes would land.",
)
@click.option(
    "--timeout",
    callback=_seconds,
    default="20s",
    show_default=True,
    metavar="DURATION",
    help="How long each destination has to answer (20s, 2m).",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Destinations asked at once.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for machines, github for workflow annotations.",
)
def check(
    paths: tuple[Path, ...],
    env_name: str | None,
    send_test_record: bool,
    timeout: int,
    concurrency: int,
    output_format: str,
) -> None:
    """Ask each destination whether its stream or hub exists and takes the credentials.

    For each manifest in PATHS (default: the project's manifests), the destination's own
    service is asked, through its cloud SDK and with the manifest's resolved credentials,
    whether the credentials are accepted and the stream or hub is there and takes records,
    reading only what the platform's minimal policy allows (docs/check.md says what is
    asked of each type). Read-only unless --send-test-record. Credentials are never shown.
    Needs the cloud SDKs: pip install 'provisioner[check]'.

    One line per destination. Exits 0 when every destination is reachable (or cannot tell,
    which is not a failure), 2 when some are not, 1 when the check could not run (an
    invalid manifest, a secret that cannot be resolved, the SDKs not installed).
    """
    # `check` talks to no platform: the project file, environment and paths are found as
    # for every other command, with the embedded emulator as a target that is never used
    # (chosen without the AEP_* settings, so a pipeline's platform URL or CI setting,
    # which name or demand a platform, do not stop a check that needs none).
    # What the check needs is imported here: the command's `--help` loads only click.
    from provisioner.cli.context import run_context
    from provisioner.preflight.run import check_manifests

    no_platform = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
    context = run_context(paths, env_name, None, None, use_emulator=True, environ=no_platform)
    manifests = load(context, secrets=True)
    progress_line(f"Asking {len(manifests)} destination(s) ...")
    report = check_manifests(manifests, float(timeout), concurrency, send_test_record)
    _show(report, output_format)
    click.get_current_context().exit(EXIT_OK if report.all_reachable else EXIT_CHANGES)


def _show(report: CheckReport, output_format: str) -> None:
    from provisioner.render.check import github_annotations, render_check_json, render_check_text

    if output_format == "json":
        click.echo(render_check_json(report), nl=False)
    elif output_format == "github":
        for line in github_annotations(report):
            click.echo(line)  # one write each: the runner reads a command per line
        click.echo(render_check_text(report), nl=False)
    else:
        click.echo(render_check_text(report, colour=colour()), nl=False)


@contextmanager
def checked_meanwhile(
    manifests: Sequence[LoadedManifest],
) -> Iterator[Callable[[], CheckReport]]:
    """`plan --check-destinations`: the destinations asked, read-only, while the caller
    reads the platform; what is yielded waits for their answers. The SDKs are imported
    first, so a missing extra stops the plan before any request."""
    from provisioner.preflight.run import check_manifests, services_for

    services_for({m.manifest.destination.type for m in manifests})
    progress_line(f"Asking {len(manifests)} destination(s) ...")
    with ThreadPoolExecutor(1, thread_name_prefix="check") as pool:
        asked = pool.submit(
            check_manifests, manifests, BESIDE_PLAN_TIMEOUT, BESIDE_PLAN_WORKERS, False
        )
        yield asked.result


def show_beside_plan(report: CheckReport, output_format: str) -> None:
    """The check's lines after a text plan; with a plan for machines or a comment on
    standard output, on standard error, where the job's log shows them."""
    from provisioner.render.check import render_check_text

    beside_text = output_format == "text"
    text = render_check_text(report, colour=colour() and beside_text)
    click.echo(("\n" if beside_text else "") + text, nl=False, err=not beside_text)
