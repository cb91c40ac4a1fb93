"""Keeping secrets out of every message and log line.

Secrets are kept out by construction (request bodies are never logged, `Authorization` is
never logged); this is the second line: any text that leaves the client passes through a
`Redactor` that knows every secret value of the run and replaces it.
"""

from __future__ import annotations

import logging
import threading

REDACTED = "<redacted>"
_MIN_LENGTH = 4  # shorter values would redact ordinary words


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            self._values.update(v for v in values if len(v) >= _MIN_LENGTH)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


# One per process, shared by every client and by the CLI's log handler.
REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message through the redactor before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
