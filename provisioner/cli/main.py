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
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TextIO

import click

from provisioner.cli.group import cli
from provisioner.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER_ERROR,
    ProvisionerError,
)
from provisioner.files import crash_log_dir, write_private
from provisioner.platform.redact import REDACTOR


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors exit 1, Ctrl-C 130, bugs 3 with the traceback in a log."""
    args = list(sys.argv[1:] if argv is None else argv)
    with runner_safe_output(os.environ):
        code = _run(args)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _run(args: list[str]) -> object:
    debug = "--debug" in args
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


# CI runners read workflow commands from a job's output, line by line: GitHub Actions takes a
# line that starts with `::` after leading whitespace (`::add-mask::`, `::stop-commands::`,
# `::error …::`), and its older form `##[command]` anywhere in a line. A file name or a value
# printed at such a place would be obeyed. The runner splits lines at `\n` and `\r`.
_RUNNER_BREAKS = re.compile(r"(\r\n|\r|\n)")
# What the runner trims before it looks for `::` (.NET's white space), and more.
_RUNNER_BLANKS = re.compile(r"[\s\ufeff\u200b]*")
_LEGACY_COMMAND = "##["
# Visible, ASCII, and still readable: `::x` shows as `: :x`, `##[x]` as `# #[x]`.
_LEADING_COMMAND_SHOWN = ": :"
_LEGACY_COMMAND_SHOWN = "# #["


class RunnerLog:
    """Text on its way to a runner's log, made unable to form a workflow command.

    Fed as it is written (a line may come in pieces, a command's `::` or `##[` split between
    two writes), it holds back at most two characters that could still begin one. Text fed
    with `command=True` opens with a workflow command the tool means (an annotation): the
    leading `::` of its first line is kept, though a `##[` inside it is not.
    """

    def __init__(self) -> None:
        self._held = ""  # a ':' at a line's start, or up to two '#' at the end
        self._at_start = True  # nothing but blanks on the current line yet

    def feed(self, text: str, command: bool = False) -> str:
        shown: list[str] = []
        for piece in _RUNNER_BREAKS.split(text):
            if _RUNNER_BREAKS.fullmatch(piece):
                shown.append(self._held + piece)
                self._held, self._at_start = "", True
                command = False  # only the line it opens is meant
            elif piece:
                shown.append(self._segment(self._held + piece, command))
        return "".join(shown)

    def end(self) -> str:
        """What is still held back, once nothing more will be written."""
        held, self._held, self._at_start = self._held, "", True
        return held

    def _segment(self, text: str, command: bool) -> str:
        self._held = ""
        if self._at_start:
            lead = _RUNNER_BLANKS.match(text)
            blanks = lead.group() if lead else ""
            rest = text[len(blanks) :]
            if rest in ("", ":"):  # undecided: the next write may complete a '::'
                self._held = rest
                return blanks
            self._at_start = False
            if rest.startswith("::") and not command:
                rest = _LEADING_COMMAND_SHOWN + rest[2:]
            text = blanks + rest
        while _LEGACY_COMMAND in text:
            text = text.replace(_LEGACY_COMMAND, _LEGACY_COMMAND_SHOWN)
        kept = min(len(text) - len(text.rstrip("#")), 2)
        if kept:
            self._held = text[-kept:]
            text = text[:-kept]
        return text


def for_runner_log(text: str, command: bool = False) -> str:
    """`text` (whole lines) as `RunnerLog` shows it: no line of it a workflow command,
    unless `command` says its one leading `::` is meant."""
    log = RunnerLog()
    return log.feed(text, command) + log.end()


def under_github_actions(environ: Mapping[str, str]) -> bool:
    """The runner sets GITHUB_ACTIONS=true; as with CI, empty, `false` and `0` do not count."""
    return environ.get("GITHUB_ACTIONS", "").strip().lower() not in ("", "false", "0")


class _RunnerStream(io.TextIOBase):
    """A standard stream whose every write goes through a `RunnerLog` first. Writes may
    come from several threads (the emulator's server logs while serving)."""

    def __init__(self, inner: TextIO, meant: Callable[[], bool]) -> None:
        super().__init__()
        self.inner = inner
        self._meant = meant
        self._log = RunnerLog()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.inner.write(self._log.feed(text, command=self._meant()))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.inner.flush()

    def finish(self) -> None:
        with self._lock:
            self.inner.write(self._log.end())
            self.inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"


def _annotation_meant() -> bool:
    """Whether what is written now is an annotation the tool means: the output of
    `validate --format github`, one escaped workflow command per write (see
    `problem_formats.github_annotations`), and nothing else on its standard output."""
    ctx = click.get_current_context(silent=True)
    return (
        ctx is not None
        and ctx.command.name == "validate"
        and ctx.params.get("output_format") == "github"
    )


@contextlib.contextmanager
def runner_safe_output(environ: Mapping[str, str]) -> Iterator[None]:
    """Under GitHub Actions, stdout and stderr guarded by a `RunnerLog` each while the
    command runs; elsewhere, as they are."""
    if not under_github_actions(environ):
        yield
        return
    out = _RunnerStream(sys.stdout, _annotation_meant)
    err = _RunnerStream(sys.stderr, lambda: False)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out.inner, err.inner
        out.finish()
        err.finish()
