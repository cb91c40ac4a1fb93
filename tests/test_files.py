"""Local files: owner-only, never written through a symlink, crash logs in a folder of ours."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.cli import offline as cli_module
from provisioner.files import (
    UnsafePathError,
    crash_log_dir,
    ensure_private_dir,
    write_private,
)
from provisioner.platform.redact import REDACTOR
from tests.workspace import SECRETS, Workspace, kinesis


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def victim(tmp_path: Path) -> Path:
    """A file someone else cares about, which a planted symlink points at."""
    target = tmp_path / "victim.txt"
    target.write_text("precious\n", encoding="utf-8")
    target.chmod(0o644)
    return target


def test_write_private_makes_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_private(path, "one")
    assert path.read_text(encoding="utf-8") == "one" and mode(path) == 0o600
    path.chmod(0o644)
    write_private(path, b"two")
    assert path.read_bytes() == b"two" and mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no temporary left


def test_write_private_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    precious = victim(tmp_path)
    trap = tmp_path / "plan.json"
    trap.symlink_to(precious)
    write_private(trap, "plan")
    assert not trap.is_symlink() and trap.read_text(encoding="utf-8") == "plan"
    assert precious.read_text(encoding="utf-8") == "precious\n" and mode(precious) == 0o644


def test_private_dirs_are_made_or_tightened_and_symlinks_refused(tmp_path: Path) -> None:
    made = ensure_private_dir(tmp_path / "new")
    assert mode(made) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    assert mode(ensure_private_dir(loose)) == 0o700
    (tmp_path / "link").symlink_to(loose)
    with pytest.raises(UnsafePathError, match="symlink"):
        ensure_private_dir(tmp_path / "link")


def test_crash_logs_go_to_the_users_state_folder(tmp_path: Path) -> None:
    folder = crash_log_dir({"XDG_STATE_HOME": str(tmp_path / "state")})
    assert folder == tmp_path / "state" / "provisioner" / "crash-logs"
    assert mode(folder) == 0o700


def test_a_planted_crash_log_folder_is_not_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (tmp_path / "state" / "provisioner").mkdir(parents=True)
    (tmp_path / "state" / "provisioner" / "crash-logs").symlink_to(elsewhere)
    folder = crash_log_dir({"XDG_STATE_HOME": str(tmp_path / "state")})
    assert folder.resolve() != elsewhere.resolve() and not folder.is_symlink()
    assert mode(folder) == 0o700 and folder.stat().st_uid == os.getuid()


def test_a_crash_writes_a_private_redacted_log_never_through_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (tmp_path / "state" / "provisioner").mkdir(parents=True)
    (tmp_path / "state" / "provisioner" / "crash-logs").symlink_to(elsewhere)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    secret = "canary-crash-secret-0b7e"
    REDACTOR.add(secret)

    def explode() -> str:
        raise RuntimeError(f"boom with {secret} inside")

    monkeypatch.setattr(cli_module, "schema_text", explode)
    with pytest.raises(SystemExit) as stop:
        main(["schema"])
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and secret not in err
    log = Path(err.split("details ")[1].rstrip(")\n"))
    assert "Traceback" in log.read_text(encoding="utf-8")
    assert secret not in log.read_text(encoding="utf-8")
    assert mode(log) == 0o600 and mode(log.parent) == 0o700
    assert list(elsewhere.iterdir()) == []


def test_plan_out_replaces_a_planted_symlink(workspace: Workspace, tmp_path: Path) -> None:
    precious = victim(tmp_path)
    workspace.write("orders.yaml", kinesis("orders"))
    (workspace.root / "plan.json").symlink_to(precious)
    result = workspace.plan("--out", "plan.json")
    assert result.code == 0, result.err
    saved = workspace.root / "plan.json"
    assert not saved.is_symlink() and mode(saved) == 0o600
    assert '"changes"' in saved.read_text(encoding="utf-8")
    assert precious.read_text(encoding="utf-8") == "precious\n" and mode(precious) == 0o644


def test_the_embedded_emulator_folder_is_private_and_ignored(workspace: Workspace) -> None:
    workspace.env = dict(SECRETS)  # nothing configured: the embedded emulator
    workspace.write("orders.yaml", kinesis("orders"))
    (workspace.root / ".provisioner").mkdir(mode=0o755)
    result = workspace.plan()
    assert result.code == 0, result.err
    assert result.err.startswith("Using the embedded emulator at .provisioner/emulator.db")
    folder = workspace.root / ".provisioner"
    assert mode(folder) == 0o700
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_a_symlinked_emulator_folder_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    workspace.env = dict(SECRETS)
    workspace.write("orders.yaml", kinesis("orders"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace.root / ".provisioner").symlink_to(elsewhere)
    result = workspace.plan()
    assert result.code == 1
    assert "the embedded emulator's folder is unsafe" in result.err
    assert list(elsewhere.iterdir()) == []
