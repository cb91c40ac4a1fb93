"""--debug anywhere on the command line, and PROVISIONER_LOG=debug, through the real entry
point: debug logs on stderr (secrets redacted) and the traceback of a bug instead of a log."""

from __future__ import annotations

import pytest

from provisioner.cli import main
from provisioner.cli import offline as offline_module
from provisioner.cli.group import debug_first, debug_requested
from tests.workspace import SECRETS, Workspace, kinesis

DEBUG_LINE = "debug: provisioner.http: "


@pytest.mark.parametrize(
    "args",
    [
        ("--debug", "plan", "manifests"),
        ("plan", "--debug", "manifests"),
        ("plan", "manifests", "--debug"),
        ("plan", "manifests", "--format", "json", "--debug"),
    ],
)
def test_debug_anywhere_logs_each_request(workspace: Workspace, args: tuple[str, ...]) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    result = workspace.run(*args)
    assert result.code == 0, result.err
    assert DEBUG_LINE in result.err
    assert not any(value in result.err for value in SECRETS.values() if len(value) > 12)


@pytest.mark.parametrize("value", ["debug", "DEBUG", " Debug "])
def test_provisioner_log_debug_does_what_the_flag_does(workspace: Workspace, value: str) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    workspace.env["PROVISIONER_LOG"] = value
    result = workspace.plan()
    assert result.code == 0, result.err
    assert DEBUG_LINE in result.err


def test_without_debug_no_debug_line_even_after_a_debug_run(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    assert DEBUG_LINE in workspace.plan("--debug").err
    quiet = workspace.plan()
    assert quiet.code == 0 and DEBUG_LINE not in quiet.err
    assert "warning" not in quiet.err


def test_an_unknown_log_level_is_named_and_ignored(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    workspace.env["PROVISIONER_LOG"] = "verbose\x1b[2J"
    result = workspace.plan()
    assert result.code == 0, result.err
    assert "warning: PROVISIONER_LOG='verbose\\x1b[2j' is not a level provisioner knows" in (
        result.err
    )
    assert "\x1b" not in result.err and DEBUG_LINE not in result.err


def test_debug_after_double_dash_is_an_argument_not_the_flag() -> None:
    assert debug_first(["plan", "x", "--debug", "--", "--debug"]) == [
        "--debug",
        "plan",
        "x",
        "--",
        "--debug",
    ]
    assert debug_first(["plan", "--", "--debug"]) == ["plan", "--", "--debug"]
    assert not debug_requested(["validate", "--", "--debug"], {})
    assert debug_requested(["validate", "--debug", "--", "x"], {})
    assert debug_requested(["validate"], {"PROVISIONER_LOG": "debug"})
    assert not debug_requested(["validate"], {"PROVISIONER_LOG": "info"})


def explode() -> str:
    raise RuntimeError("boom")


@pytest.mark.parametrize("where", ["after", "environment"])
def test_a_bug_shows_its_traceback_with_debug_anywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    monkeypatch.setattr(offline_module, "schema_text", explode)
    if where == "environment":
        monkeypatch.setenv("PROVISIONER_LOG", "debug")
    args = ["schema", "--debug"] if where == "after" else ["schema"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
    assert "(a bug; details above)" in err


def test_debug_after_double_dash_is_a_path_and_a_bug_writes_its_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    given: list[tuple[str, ...]] = []

    def load_and_check(paths: tuple[str, ...]) -> None:
        given.append(tuple(str(p) for p in paths))
        raise RuntimeError("boom")

    monkeypatch.setattr(offline_module, "load_and_check", load_and_check)
    with pytest.raises(SystemExit) as stop:
        main(["validate", "--", "--debug"])
    assert stop.value.code == 3
    assert given == [("--debug",)]
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error: RuntimeError: boom (a bug; details " in err
