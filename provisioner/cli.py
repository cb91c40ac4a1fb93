"""The command line: the only module that prints and chooses exit codes."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from provisioner import __version__
from provisioner.emulator.cli import emulator
from provisioner.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USER_ERROR, ProvisionerError
from provisioner.manifest import load_and_check, manifest_json_schema, resolve_secrets
from provisioner.manifest.load import LoadResult
from provisioner.platform.redact import REDACTOR, RedactingFilter

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


def _log_to_stderr() -> None:
    """Debug logs on stderr, every line passed through the secret redactor first."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(REDACTOR))
    logger = logging.getLogger("provisioner")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


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
def schema() -> None:
    """Print the manifest's JSON Schema (the same as schemas/manifest.schema.json)."""
    click.echo(schema_text(), nl=False)


def schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2) + "\n"


cli.add_command(emulator)


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
