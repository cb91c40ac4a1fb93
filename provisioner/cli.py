"""The command line: the only module that prints and chooses exit codes."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from provisioner import __version__
from provisioner.apply import Applier, ApplyReport
from provisioner.emulator.cli import emulator
from provisioner.errors import (
    EXIT_CHANGES,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER_ERROR,
    ProvisionerError,
)
from provisioner.importer import find_flow, import_flow
from provisioner.live import ManagedState
from provisioner.manifest import (
    LoadedManifest,
    load_and_check,
    manifest_json_schema,
    resolve_secrets,
)
from provisioner.manifest.load import LoadResult
from provisioner.plan import Plan, plan_json_schema
from provisioner.platform.client import PlatformClient, connect
from provisioner.platform.redact import REDACTOR, RedactingFilter
from provisioner.platform.target import Target, select_target
from provisioner.render import render_markdown, render_text
from provisioner.stale import check_target, load_plan, refusals
from provisioner.teardown import destroy_plan
from provisioner.workflow import (
    InvalidManifests,
    load_manifests,
    plan_for,
    plan_target,
    read_managed,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="provisioner")
@click.option("--debug", is_flag=True, help="Print debug logs and full tracebacks on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Adobe Experience Platform streaming destinations as code.

    Describe Amazon Kinesis and Azure Event Hubs destinations in YAML manifests, check
    them offline with `validate`, and see what would change on the platform with `plan`.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        _log_to_stderr()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """Debug logs on stderr, every line passed through the secret redactor first."""
    logger = logging.getLogger("provisioner")
    logger.setLevel(logging.DEBUG)
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(REDACTOR))
    logger.addHandler(handler)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)
@click.option(
    "--resolve-secrets",
    "check_secrets",
    is_flag=True,
    help="Also resolve every ${env:…} and ${file:…} reference (values are never shown).",
)
def validate(paths: tuple[Path, ...], output_format: str, check_secrets: bool) -> None:
    """Check manifests offline: YAML, schema, and checks across manifests.

    PATHS are manifest files or directories (searched recursively). Every problem of
    every file is reported at once as FILE:LINE:COL: error: MESSAGE (at field.path).
    Exits 0 when all manifests are valid (warnings allowed), 1 otherwise.
    """
    result = load_and_check(paths)
    if check_secrets and not result.errors:
        result.problems.extend(resolve_secrets(result.manifests))
    if output_format == "json":
        click.echo(json.dumps(_validation_json(result), indent=2))
    else:
        _echo_validation_text(result)
    click.get_current_context().exit(EXIT_USER_ERROR if result.errors else EXIT_OK)


def _validation_json(result: LoadResult) -> dict[str, Any]:
    return {
        "valid": not result.errors,
        "files": [str(f) for f in result.files],
        "manifests": [
            {"name": m.manifest.name, "file": str(m.file), "document": m.document}
            for m in result.manifests
        ],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "problems": [p.as_json() for p in result.problems],
    }


def _echo_validation_text(result: LoadResult) -> None:
    for problem in result.problems:
        click.echo(problem.format(), err=problem.severity == "error")
    summary = (
        f"{len(result.manifests)} manifest(s) in {len(result.files)} file(s): "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    click.echo(summary, err=bool(result.errors))


@cli.command()
@click.option(
    "--plan",
    "of_plan",
    is_flag=True,
    help="The JSON plan's schema instead (schemas/plan.schema.json).",
)
def schema(of_plan: bool) -> None:
    """Print the manifest's JSON Schema (the same as schemas/manifest.schema.json)."""
    click.echo(plan_schema_text() if of_plan else schema_text(), nl=False)


def schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2) + "\n"


def plan_schema_text() -> str:
    return json.dumps(plan_json_schema(), indent=2) + "\n"


cli.add_command(emulator)


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
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    click.echo(
        f"Saved the plan to {path}; apply it with: provisioner apply --plan {path}", err=True
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors exit 1, Ctrl-C 130, bugs 3 with the traceback in a log."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="provisioner", standalone_mode=False)
    except click.exceptions.Exit as stop:
        code = stop.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code if error.exit_code != 2 else EXIT_USER_ERROR
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except ProvisionerError as error:
        click.echo(f"error: {error}", err=True)
        code = error.exit_code
    except Exception as error:  # a bug: one line for the user, the details in a log
        code = _report_internal_error(error, debug)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _report_internal_error(error: Exception, debug: bool) -> int:
    details = traceback.format_exc()
    if debug:
        click.echo(details, err=True)
        where = "above"
    else:
        where = str(_write_crash_log(details))
    click.echo(
        f"internal error: {type(error).__name__}: {error} (a bug; details {where})", err=True
    )
    return EXIT_INTERNAL


def _write_crash_log(details: str) -> Path:
    folder = Path(tempfile.gettempdir()) / "provisioner"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    path.write_text(details, encoding="utf-8")
    return path
