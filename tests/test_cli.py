"""Exit codes and the error handler, through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.cli import offline as cli_module

ROOT = Path(__file__).parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_module_entry_point_validates_examples() -> None:
    result = run("validate", "examples/destinations")
    assert result.returncode == 0, result.stderr
    assert "0 error(s)" in result.stdout


def test_every_command_has_help() -> None:
    commands: tuple[list[str], ...] = (
        [],
        ["validate"],
        ["schema"],
        ["plan"],
        ["apply"],
        ["destroy"],
        ["import"],
        ["emulator"],
        ["emulator", "serve"],
    )
    for command in commands:
        result = run(*command, "--help")
        assert result.returncode == 0
        assert "Usage:" in result.stdout


def test_usage_error_exits_1() -> None:
    result = run("validate")  # no paths, and no project file that lists any
    assert result.returncode == 1
    assert "give manifest PATHS, or list `manifests` in provisioner.yaml" in result.stderr


def test_internal_error_exits_3_with_one_line_and_a_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode() -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_module, "schema_text", explode)
    with pytest.raises(SystemExit) as stop:
        main(["schema"])
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom" in err
    log = Path(err.split("details ")[1].rstrip(")\n"))
    assert "Traceback" in log.read_text(encoding="utf-8")


def test_debug_prints_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_module, "schema_text", lambda: 1 / 0)
    with pytest.raises(SystemExit) as stop:
        main(["--debug", "schema"])
    assert stop.value.code == 3
    assert "Traceback" in capsys.readouterr().err
