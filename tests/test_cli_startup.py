"""A command's `--help` answers at once: it imports its command module and click, not what
the command needs to run (the pydantic models, httpx, the YAML parser, the plan, state and
manifest packages, the emulator, the cloud SDKs). How long it takes is measured in
benchmarks/help.py; this is the guard that keeps it short."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provisioner.cli.group import LAZY_COMMANDS

# Third-party packages, and the tool's own packages, that only running a command needs.
HEAVY = (
    "pydantic",
    "httpx",
    "ruamel",
    "rich",
    "deepdiff",
    "boto3",
    "botocore",
    "azure",
    "provisioner.apply",
    "provisioner.connect",
    "provisioner.destinations",
    "provisioner.emulator",
    "provisioner.fields",
    "provisioner.manifest",
    "provisioner.plan",
    "provisioner.preflight",
    "provisioner.render",
    "provisioner.review",
    "provisioner.state",
)
# The emulator's own commands are the emulator's: its help loads that package.
COMMANDS = sorted(name for name in LAZY_COMMANDS if name != "emulator")

_PROBE = """
import json, sys
from provisioner.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(*args: str) -> tuple[object, set[str]]:
    """The exit code of `provisioner ARGS` in a fresh interpreter, and every module it
    imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["code"], set(answer["modules"])


def _heavy_in(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules if any(name == h or name.startswith(f"{h}.") for h in HEAVY)
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_commands_help_imports_nothing_it_needs_only_to_run(command: str) -> None:
    code, modules = _run(command, "--help")
    assert code == 0
    assert LAZY_COMMANDS[command].module in modules  # its own module did load
    assert _heavy_in(modules) == [], f"{command} --help imported them"


def test_the_guard_sees_a_heavy_import() -> None:
    # The other side: running a command does load what it needs, and the probe sees it.
    code, modules = _run("schema")
    assert code == 0
    assert {"pydantic", "provisioner.manifest"} <= set(_heavy_in(modules))


def test_the_plan_formats_declared_for_the_options_are_those_rendered() -> None:
    # `plan --format` and `show --format` are declared without the renderers: the lists
    # must not drift apart.
    from provisioner.cli import common
    from provisioner.render import formats

    assert common.PLAN_FORMATS == formats.PLAN_FORMATS
    assert common.PLAN_FORMATS_HELP == formats.PLAN_FORMATS_HELP
