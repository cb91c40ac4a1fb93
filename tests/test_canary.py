"""A canary sweep: every command, with canary secrets, leaves them nowhere.

The client secret, a static access token and the manifests' `${env:…}` secrets are set to
canary values; every command runs as a real process (with and without --debug) against the
embedded emulator and against the emulator served on loopback; then no canary may appear
on stdout, on stderr, or in any file the tool wrote (plans, an imported manifest, crash
logs, `.provisioner/`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.server import serving
from tests.workspace import kinesis

CLIENT_SECRET = "canary-client-secret-1f6b0d"
ACCESS_TOKEN = "canary-access-token-8e2a4c"
AWS_SECRET = "canary-manifest-secret-5c9e71"
ROTATED = "canary-rotated-secret-2d4f88"
CANARIES = (CLIENT_SECRET, ACCESS_TOKEN, AWS_SECRET, ROTATED)
TIMEOUT = 60


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str


@dataclass
class Sweep:
    folder: Path
    runs: list[Run]
    # The embedded emulator's store as each command left it (destroy deletes rows at the end).
    stores: list[bytes]

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file() and not p.is_symlink())


def base_env(folder: Path) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AEP_", "PROVISIONER_")) and k not in ("CI", "NO_COLOR")
    }
    return kept | {
        "XDG_STATE_HOME": str(folder / "state"),
        "AWS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET": AWS_SECRET,
    }


def run(folder: Path, env: dict[str, str], *args: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    return Run(args, done.returncode, done.stdout, done.stderr)


def sweep(folder: Path, env: dict[str, str], target: tuple[str, ...]) -> Sweep:
    """Every command once, in the order a user would run them."""
    (folder / "manifests").mkdir(parents=True)
    (folder / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    rotated = env | {"AWS_SECRET": ROTATED}
    steps: list[tuple[dict[str, str], tuple[str, ...]]] = [
        (env, ("validate", "manifests", "--resolve-secrets", "--format", "json")),
        (env, ("plan", "manifests", *target, "--format", "markdown")),
        (env, ("plan", "manifests", *target, "--format", "json", "--out", "plan.json")),
        (env, ("--debug", "apply", "manifests", "--plan", "plan.json", *target, "--auto-approve")),
        (rotated, ("--debug", "plan", "manifests", *target, "--detailed-exitcode")),
        (rotated, ("--debug", "apply", "manifests", *target, "--auto-approve")),
        (env, ("--debug", "import", "--name", "orders", "-o", "imported.yaml", *target)),
        (env, ("--debug", "destroy", "manifests", *target, "--auto-approve")),
    ]
    done = Sweep(folder, [], [])
    for step_env, args in steps:
        done.runs.append(run(folder, step_env, *args))
        done.stores.append(b"".join(p.read_bytes() for p in done.files() if is_emulator_store(p)))
    return done


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    emulator = EmulatorApp()
    emulator.config.clients[DEFAULT_CLIENT_ID] = (CLIENT_SECRET, DEFAULT_ORG)
    with serving(emulator) as url:
        yield url


@pytest.fixture(scope="module")
def sweeps(served: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sweep]:
    # Made here, not in the threads: pytest's temporary root is not safe to make from two.
    folders = {name: tmp_path_factory.mktemp(name) for name in ("embedded", "served")}

    def embedded() -> Sweep:
        folder = folders["embedded"]
        # Set, but naming no platform: --emulator is what chooses the target.
        env = base_env(folder) | {"AEP_CLIENT_SECRET": CLIENT_SECRET}
        return sweep(folder, env, ("--emulator",))

    def over_http() -> Sweep:
        folder = folders["served"]
        env = base_env(folder) | {
            "AEP_PLATFORM_URL": served,
            "AEP_IMS_URL": served,
            "AEP_CLIENT_ID": DEFAULT_CLIENT_ID,
            "AEP_CLIENT_SECRET": CLIENT_SECRET,
            "AEP_ORG_ID": DEFAULT_ORG,
        }
        done = sweep(folder, env, ())
        # A static token the platform refuses: its error path must not show it either.
        with_token = env | {"AEP_ACCESS_TOKEN": ACCESS_TOKEN}
        done.runs.append(run(folder, with_token, "--debug", "plan", "manifests"))
        done.runs.append(run(folder, with_token, "destroy", "manifests", "--auto-approve"))
        return done

    with ThreadPoolExecutor(max_workers=2) as pool:
        embedded_sweep, served_sweep = pool.submit(embedded), pool.submit(over_http)
        return {"embedded": embedded_sweep.result(), "served": served_sweep.result()}


def is_emulator_store(path: Path) -> bool:
    return path.parent.name == ".provisioner" and path.name.startswith("emulator.db")


@pytest.mark.parametrize("where", ["embedded", "served"])
def test_every_command_ran(where: str, sweeps: dict[str, Sweep]) -> None:
    codes = [r.code for r in sweeps[where].runs]
    # validate, plan, plan --out, apply --plan, plan (rotated: changes), apply, import
    # (refused: already managed, or done), destroy; then the refused token twice.
    assert codes[:6] == [0, 0, 0, 0, 2, 0], [r.err for r in sweeps[where].runs]
    assert codes[6] in (0, 1) and codes[7] == 0
    assert "credentials: (sensitive)" in sweeps[where].runs[4].out
    if where == "served":
        assert codes[8:] == [1, 1]
        assert "answered 401" in sweeps[where].runs[8].err


@pytest.mark.parametrize("where", ["embedded", "served"])
def test_no_canary_on_any_output(where: str, sweeps: dict[str, Sweep]) -> None:
    for result in sweeps[where].runs:
        for canary in CANARIES:
            assert canary not in result.out, (result.args, canary)
            assert canary not in result.err, (result.args, canary)


@pytest.mark.parametrize("where", ["embedded", "served"])
def test_no_canary_in_any_file_the_tool_wrote(where: str, sweeps: dict[str, Sweep]) -> None:
    files = [p for p in sweeps[where].files() if not is_emulator_store(p)]
    assert any(p.name == "plan.json" for p in files)
    for path in files:
        content = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in content, (path, canary)


def test_no_canary_in_the_embedded_emulators_store(sweeps: dict[str, Sweep]) -> None:
    stores = sweeps["embedded"].stores
    assert stores[-1]  # the store exists
    for content in stores:
        for canary in CANARIES:
            assert canary.encode() not in content, canary
