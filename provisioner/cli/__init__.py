"""The command line: the only package that prints and chooses exit codes."""

from __future__ import annotations

from provisioner.cli.group import cli
from provisioner.cli.main import main
from provisioner.cli.offline import plan_schema_text, project_schema_text, schema_text

__all__ = ["cli", "main", "plan_schema_text", "project_schema_text", "schema_text"]
