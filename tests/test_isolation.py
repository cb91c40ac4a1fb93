"""The suite writes nothing into the developer's home: the tool's crash logs land in the
run's own XDG directories (tests/conftest.py), in the suite's process and in every process
a test starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.cli import offline as offline_module
from provisioner.files import crash_log_dir, state_dir
from tests.conftest import HOST_DIRS

ROOT = Path(__file__).parent.parent
CRASH = (
    "import provisioner.cli.offline as offline\n"
    "def explode():\n"
    "    raise RuntimeError('boom')\n"
    "offline.schema_text = explode\n"
    "from provisioner.cli import main\n"
    "main(['schema'])\n"
)


def host_state_dir() -> Path:
    """The state directory the developer's own runs use (as `provisioner.files` finds it)."""
    return state_dir({"XDG_STATE_HOME": HOST_DIRS["XDG_STATE_HOME"]})


def crash_log_in(err: str) -> Path:
    return Path(err.split("details ")[1].rstrip(")\n"))


def test_the_user_directories_are_this_runs_own() -> None:
    for name in HOST_DIRS:
        folder = Path(os.environ[name])
        assert folder.is_dir() and folder.name in ("state", "cache", "config")
        assert folder.parent.name.startswith("provisioner-tests-home-")
    assert state_dir() != host_state_dir()
    assert not crash_log_dir().is_relative_to(host_state_dir())


def test_a_crash_log_of_the_suite_lands_in_the_runs_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(offline_module, "schema_text", lambda: 1 / 0)
    with pytest.raises(SystemExit) as stop:
        main(["schema"])
    assert stop.value.code == 3
    log = crash_log_in(capsys.readouterr().err)
    assert log.is_file()
    assert log.is_relative_to(os.environ["XDG_STATE_HOME"])
    assert not log.is_relative_to(host_state_dir())


def test_a_process_a_test_starts_writes_its_crash_log_there_too() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CRASH],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    log = crash_log_in(result.stderr)
    assert "RuntimeError: boom" in log.read_text(encoding="utf-8")
    assert log.is_relative_to(os.environ["XDG_STATE_HOME"])
    assert not log.is_relative_to(host_state_dir())
