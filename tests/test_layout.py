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


PACKAGES = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
# One concept seen from several layers (a command, its renderer; the manifest's audiences
# and the platform's; the apply command and the apply package; the emulator's command
# line): the same name says the same thing. A name not listed here that
# appears twice says two things, as `cli/steps.py` beside `render/steps.py` once did.
SHARED_NAMES = {
    "applied", "apply", "audiences", "check", "cli", "common", "context", "errors", "files",
    "identity", "messages", "model", "run", "runs", "secrets", "specs", "status",
}  # fmt: skip


def test_no_module_is_named_after_a_package() -> None:
    assert [
        str(m.relative_to(PACKAGE)) for m in modules() if m.stem in PACKAGES - SHARED_NAMES
    ] == []


def test_a_module_name_repeats_only_for_one_concept() -> None:
    stems = [m.stem for m in modules() if m.stem not in ("__init__", "__main__")]
    repeated = {s for s in stems if stems.count(s) > 1}
    assert repeated - SHARED_NAMES == set()
