"""A live progress line for long work on a terminal, counting what the summary will count.

Only on a terminal (stderr), never on a pipe or a CI log, and not with TERM=dumb (which
cannot rewrite a line). It redraws at most ten times a second, so a fast apply of
thousands of dataflows does not spend its time printing.

What it counts is what the command's last line counts, so the two never disagree: for an
apply or a destroy, the plan's changes applied and the dataflows they make up, and the
parts that failed (`Applied`, as `ApplySummary` counts them when the run is over); for a
wait, the dataflows done (`Done`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from provisioner.apply.run import Result
    from provisioner.plan.model import AnyChange

REDRAW_EVERY = 0.1  # seconds


def wanted(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Counts(Protocol):
    """What a progress line counts, one finished unit (`Result`) at a time."""

    @property
    def total(self) -> int: ...

    @property
    def done(self) -> int: ...

    def add(self, result: Result, first: bool) -> None: ...

    def text(self) -> str: ...


class Done:
    """Units done of `total`, and how many of them failed."""

    def __init__(self, total: int, noun: str = "") -> None:
        self.total, self.noun = total, noun
        self.done = self.failed = 0

    def add(self, result: Result, first: bool) -> None:
        if first:
            self.done += 1
            self.failed += 0 if result.ok else 1

    def text(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        noun = f" {self.noun}" if self.noun else ""
        return f"{self.done}/{self.total}{noun} done{failed}"


class Applied:
    """A plan's changes applied and the dataflows they make up, as `finish` counts them
    when the run is over: a unit's changes count when it is done, and leave the count
    again when a later step of that unit fails; failed counts the parts (units)."""

    def __init__(self, changes: Iterable[AnyChange]) -> None:
        # Imported here: the plan's models are not needed to start the CLI (`--help`).
        from provisioner.plan.model import unit_of

        self.weights: dict[str, int] = {}
        for change in changes:
            unit = unit_of(change)
            self.weights[unit] = self.weights.get(unit, 0) + 1
        self.total = sum(self.weights.values())
        self.dataflows = sum(1 for unit in self.weights if unit.startswith("dataflow "))
        self.done = self.dataflows_done = self.failed = 0
        self._failed: set[str] = set()

    def add(self, result: Result, first: bool) -> None:
        unit = result.unit
        if unit in self._failed:
            return
        counted = unit.startswith("dataflow ") and unit in self.weights
        if not first:  # counted as done already: only a failure changes that
            if result.ok:
                return
            self.done -= self.weights.get(unit, 0)
            self.dataflows_done -= 1 if counted else 0
        if result.ok:
            self.done += self.weights.get(unit, 0)
            self.dataflows_done += 1 if counted else 0
        else:
            self._failed.add(unit)
            self.failed += 1

    def text(self) -> str:
        return (
            f"{self.done}/{self.total} change(s) applied "
            f"({self.dataflows_done}/{self.dataflows} dataflow(s)); {self.failed} failed"
        )


class Progress:
    """Shows `counts` as units finish, on `stream` when it is a terminal."""

    def __init__(self, verb: str, counts: Counts, stream: TextIO | None = None) -> None:
        self.verb, self.counts = verb, counts
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream) and counts.total > 1
        self.drawn_lines = 0
        self._seen: set[str] = set()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def __call__(self, result: Result) -> None:
        with self._lock:
            first = result.unit not in self._seen
            self._seen.add(result.unit)
            self.counts.add(result, first)
            now = time.monotonic()
            complete = self.counts.done >= self.counts.total
            if self.enabled and (now - self._drawn >= REDRAW_EVERY or complete):
                self._drawn = now
                self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self._started
        rate = self.counts.done / max(elapsed, 1e-6)
        return f"{self.verb}: {self.counts.text()}, {rate:.1f}/s"

    def _draw(self, now: float) -> None:
        self.stream.write(f"\r\033[K{self.line(now)}")
        self.stream.flush()
        self.drawn_lines += 1

    def close(self) -> None:
        """Leave the terminal as it was: the line is erased."""
        if self.enabled and self.drawn_lines:
            self.stream.write("\r\033[K")
            self.stream.flush()
