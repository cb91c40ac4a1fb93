"""Text on its way to a CI runner's log, made unable to form a workflow command.

Used by the command line for everything it prints, and by the GitHub Action's steps.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Mapping
from typing import TextIO

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


class RunnerStream(io.TextIOBase):
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
