"""Keeping secrets out of every message and log line.

Secrets are kept out by construction (request bodies are never logged, `Authorization` is
never logged); this is the second line: any text that leaves the tool passes through a
`Redactor` that knows every secret value of the run, in every form it may take in text
(as is, JSON-escaped, URL-encoded, as a Python repr), and replaces it.
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import quote, quote_plus

REDACTED = "<redacted>"
_MIN_LENGTH = 4  # shorter values would redact ordinary words


def escaped_forms(value: str) -> set[str]:
    """`value` and the forms it takes once embedded in JSON, a URL or a repr."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        repr(value)[1:-1],
        ascii(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
    }


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            for value in values:
                forms = {form for form in escaped_forms(value) if len(form) >= _MIN_LENGTH}
                self._values.update(forms)
            self._ordered = sorted(self._values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = self._ordered
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


# One per process, shared by every client and by the CLI's log handler and error printing.
REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message through the redactor before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
