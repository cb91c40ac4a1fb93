"""Starting the CLI imports only what the command run needs: `--help` lists every command
without importing the pydantic models, httpx, the YAML parser, deepdiff or the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.cli.group import LAZY_COMMANDS

HEAVY = ("httpx", "pydantic", "ruamel", "deepdiff", "provisioner.emulator", "provisioner.plan")

_PROBE = """
import json, sys
from provisioner.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({name.split(".")[0] if not name.startswith("provisioner.") else
                ".".join(name.split(".")[:2]) for name in sys.modules})
print(json.dumps(heavy))
"""


def _modules_after(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("-h",)])
def test_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    loaded = _modules_after(*args)
    assert not loaded & set(HEAVY), f"{args} imported {sorted(loaded & set(HEAVY))}"
    assert "click" in loaded  # the probe did run the CLI


def test_a_command_imports_what_it_needs() -> None:
    # The other side of the laziness: running a command loads what it needs (its own
    # `--help` does not: tests/test_cli_startup.py).
    assert "pydantic" in _modules_after("schema")


def test_help_lists_every_command_as_its_own_help_would() -> None:
    ctx = click.Context(cli)
    for name, lazy in LAZY_COMMANDS.items():
        real = cli.get_command(ctx, name)
        assert real is not None and real.name == name
        stand_in = lazy.stand_in(name)
        for limit in (30, 45, 60, 80, 100):
            assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit), name


def test_help_output_is_unchanged_once_the_commands_are_loaded() -> None:
    lazily = subprocess.run(
        [sys.executable, "-m", "provisioner", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        cli.get_command(ctx, name)  # every command loaded: the listing uses the real ones
    # COLUMNS=80 makes a terminal 78 wide for click; the runner is given the width itself.
    loaded = CliRunner().invoke(cli, ["--help"], prog_name="provisioner", terminal_width=78)
    assert loaded.exit_code == 0
    assert lazily.strip() == loaded.output.strip()
    assert all(f"  {name} " in lazily for name in LAZY_COMMANDS)
