"""Problems found in manifests, each pinned to a file, a line, a column and a field path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int = 0  # 1-based; 0 when the problem concerns the whole file
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    location: Location
    message: str
    path: str = ""

    def format(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.location}: {self.severity}: {self.message}{where}"

    def as_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "path": self.path,
            "message": self.message,
        }


class Findings:
    """What collects problems (a load, a resolution): its errors and its warnings."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return errors_in(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def format_path(parts: list[str | int]) -> str:
    """`['audiences', 3, 'id']` -> `audiences[3].id`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
