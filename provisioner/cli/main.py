"""The entry point: user errors exit 1, Ctrl-C 130, bugs 3 with the traceback in a log.

An error's text may quote the platform (its error messages), a manifest or the command line,
so it is printed through `for_message`/`for_terminal`: one line, no control characters.

Under GitHub Actions every line the tool prints, on stdout and stderr, passes through one
guard (`RunnerLog`): a line cannot become a workflow command, whatever a file name or a
value put in it. The runner obeys a line that starts with `::` after blanks, and `##[` anywhere
in a line; they are shown as `: :` and `# #[` instead: visible, ASCII, and still readable.
The one exception is what the tool means as a command: the annotations of
`validate --format github`, whose values are escaped where they are made.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence

import click

from provisioner.cli.group import cli, debug_requested
from provisioner.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER_ERROR,
    ProvisionerError,
)
from provisioner.files import crash_log_dir, write_private
from provisioner.platform.redact import REDACTOR
from provisioner.runner_log import RunnerStream, under_github_actions


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors exit 1, Ctrl-C 130, bugs 3 with the traceback in a log."""
    args = list(sys.argv[1:] if argv is None else argv)
    with runner_safe_output(os.environ):
        code = _run(args)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _run(args: list[str]) -> object:
    debug = debug_requested(args, os.environ)
    try:
        code = cli.main(args=args, prog_name="provisioner", standalone_mode=False)
    except click.exceptions.Exit as stop:
        code = stop.exit_code
    except click.ClickException as error:
        _show_click_error(error)
        code = error.exit_code if error.exit_code != 2 else EXIT_USER_ERROR
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except ProvisionerError as error:
        click.echo(f"error: {_for_message(REDACTOR(str(error)))}", err=True)
        code = error.exit_code
    except Exception as error:  # a bug: one line for the user, the details in a log
        code = _report_internal_error(error, debug)
    return code


def _for_message(text: str) -> str:
    # Imported here: the render package brings the plan's models, which only a run needs.
    from provisioner.render.safe import for_message

    return for_message(text)


def _show_click_error(error: click.ClickException) -> None:
    """Click's own message and usage, each line shown as for the terminal (a bad value
    given on the command line is quoted in it)."""
    shown = io.StringIO()
    error.show(file=shown)
    lines = shown.getvalue().rstrip("\n").split("\n")
    from provisioner.render.safe import for_terminal

    click.echo("\n".join(for_terminal(line) for line in lines), err=True)


def _report_internal_error(error: Exception, debug: bool) -> int:
    # Secrets of the run are taken out of the traceback too: it may quote a value.
    details = REDACTOR(traceback.format_exc())
    if debug:
        click.echo(details, err=True)
        where = "above"
    else:
        where = str(_write_crash_log(details))
    summary = REDACTOR(f"{type(error).__name__}: {error}")
    click.echo(f"internal error: {_for_message(summary)} (a bug; details {where})", err=True)
    return EXIT_INTERNAL


def _write_crash_log(details: str) -> str:
    """The log's path; written owner-only in the user's own crash-log folder."""
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path = crash_log_dir() / name
    try:
        write_private(path, details)
    except OSError as failure:
        return f"could not be written to {path}: {failure.strerror}"
    return str(path)


def _annotation_meant() -> bool:
    """Whether what is written now is an annotation the tool means: the output of
    `validate --format github`, one escaped workflow command per write (see
    `problem_formats.github_annotations`), and nothing else on its standard output."""
    ctx = click.get_current_context(silent=True)
    return (
        ctx is not None
        and ctx.command.name in ("validate", "status", "check")
        and ctx.params.get("output_format") == "github"
    )


@contextlib.contextmanager
def runner_safe_output(environ: Mapping[str, str]) -> Iterator[None]:
    """Under GitHub Actions, stdout and stderr guarded by a `RunnerLog` each while the
    command runs; elsewhere, as they are."""
    if not under_github_actions(environ):
        yield
        return
    out = RunnerStream(sys.stdout, _annotation_meant)
    err = RunnerStream(sys.stderr, lambda: False)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out.inner, err.inner
        out.finish()
        err.finish()
