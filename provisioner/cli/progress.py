"""A live progress line for long work on a terminal: done, failed, rate.

Only on a terminal (stderr), never on a pipe or a CI log, and not with TERM=dumb (which
cannot rewrite a line). It redraws at most ten times a second, so a fast apply of
thousands of dataflows does not spend its time printing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from provisioner.apply.run import Result

REDRAW_EVERY = 0.1  # seconds


def wanted(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Progress:
    """Counts units as they finish; `total` is how many the plan has."""

    def __init__(self, verb: str, total: int, stream: TextIO | None = None) -> None:
        self.verb, self.total = verb, total
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream) and total > 1
        self.done = self.failed = 0
        self._seen: set[str] = set()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def __call__(self, result: Result) -> None:
        with self._lock:
            if result.unit in self._seen:
                return
            self._seen.add(result.unit)
            self.done += 1
            self.failed += 0 if result.ok else 1
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= REDRAW_EVERY or self.done == self.total):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._started, 1e-6)
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"{self.verb}: {self.done}/{self.total} done{failed}, {rate:.1f}/s"
        self.stream.write(f"\r\033[K{line}")
        self.stream.flush()

    def close(self) -> None:
        """Leave the terminal as it was: the line is erased."""
        if self.enabled and self.done:
            self.stream.write("\r\033[K")
            self.stream.flush()
