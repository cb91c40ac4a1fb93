"""The command line: the only package that prints and chooses exit codes."""

from __future__ import annotations

from typing import Any

from provisioner.cli.group import cli
from provisioner.cli.main import main

__all__ = ["cli", "main", "plan_schema_text", "project_schema_text", "schema_text"]

_SCHEMA_TEXTS = frozenset({"plan_schema_text", "project_schema_text", "schema_text"})


def __getattr__(name: str) -> Any:
    # The schemas need the pydantic models: imported when asked for, not to start the CLI.
    if name in _SCHEMA_TEXTS:
        from provisioner.cli import offline

        return getattr(offline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
