"""The shape docs/architecture.md draws, kept: small modules, and printing only where a
command line is."""

from __future__ import annotations

import ast
from pathlib import Path

import provisioner

PACKAGE = Path(provisioner.__file__).parent
MAX_LINES = 450
# Command lines: the tool's, the emulator's, and the GitHub Action's step.
MAY_PRINT = ("cli/", "emulator/", "review/action.py")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {str(m.relative_to(PACKAGE)): len(m.read_text().splitlines()) for m in modules()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def _prints(tree: ast.AST) -> list[int]:
    """Lines that call print, click.echo, or write to sys.stdout or sys.stderr."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = ast.unparse(node.func)
        if called in ("print", "click.echo", "echo") or called.startswith(
            ("sys.stdout.", "sys.stderr.")
        ):
            found.append(node.lineno)
    return found


def test_only_command_lines_print() -> None:
    printing = {
        str(m.relative_to(PACKAGE)): lines
        for m in modules()
        if not str(m.relative_to(PACKAGE)).startswith(MAY_PRINT)
        and (lines := _prints(ast.parse(m.read_text())))
    }
    assert printing == {}
