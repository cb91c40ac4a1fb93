from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport, serving
from provisioner.platform import client as client_module
from provisioner.platform.client import RetryPolicy
from tests.contract.conflicts import UNDOCUMENTED_TOOL_WRITES
from tests.contract.recording import RequestLog
from tests.emulator_support import Api, emulator_config
from tests.workspace import Workspace

# The host's pipeline variables (CI runs this suite under `CI=true`, a developer may have
# AEP_* or PROVISIONER_* exported) change what the tool does; every test starts without them
# and the tests of those behaviours set exactly what they need.
_HOST_VARIABLES = re.compile(r"^(CI|CI_.*|GITHUB_.*|GITLAB_.*|RUNNER_.*|AEP_.*|PROVISIONER_.*)$")


# The user's own directories (XDG), as they were before the run: the tool writes crash logs
# under the state directory, and tests must never write there.
HOST_DIRS = {
    name: os.environ.get(name, "")
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
}
_RUN_HOME: list[Path] = []  # this run's stand-in for them, removed when the run ends


def pytest_configure(config: pytest.Config) -> None:
    for name in [name for name in os.environ if _HOST_VARIABLES.match(name)]:
        del os.environ[name]
    _isolate_user_directories()


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _RUN_HOME:
        shutil.rmtree(folder, ignore_errors=True)


def _isolate_user_directories() -> None:
    """The XDG state, cache and config directories point into a directory of this run's,
    for the tool and for every process a test starts. pip's cache stays the user's: tests
    that install would download everything again, and it holds nothing of this tool's."""
    if "PIP_CACHE_DIR" not in os.environ:
        cache = HOST_DIRS["XDG_CACHE_HOME"] or str(Path.home() / ".cache")
        os.environ["PIP_CACHE_DIR"] = str(Path(cache) / "pip")
    home = Path(tempfile.mkdtemp(prefix="provisioner-tests-home-"))
    _RUN_HOME.append(home)
    for name in HOST_DIRS:
        folder = home / name.removeprefix("XDG_").removesuffix("_HOME").lower()
        folder.mkdir()
        os.environ[name] = str(folder)


@pytest.fixture
def emulator() -> EmulatorApp:
    """The emulator, with the tests' sandboxes (TEST_SANDBOXES) besides prod."""
    return EmulatorApp(config=emulator_config())


@pytest.fixture
def served(emulator: EmulatorApp) -> Iterator[str]:
    """The emulator served over real loopback HTTP; yields its base URL."""
    with serving(emulator) as url:
        yield url


@pytest.fixture(params=["in-process", "http"])
def client(request: pytest.FixtureRequest, emulator: EmulatorApp) -> Iterator[httpx.Client]:
    """A raw client of the emulator, once in-process and once over loopback HTTP."""
    if request.param == "in-process":
        with httpx.Client(transport=EmulatorTransport(emulator), base_url="http://emulator") as c:
            yield c
        return
    with serving(emulator) as url, httpx.Client(base_url=url) as c:
        yield c


@pytest.fixture
def api(client: httpx.Client) -> Api:
    return Api(client)


@pytest.fixture
def workspace(
    tmp_path: Path, emulator: EmulatorApp, served: str, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """A user's folder, with the CLI pointed at the emulator served on loopback HTTP.
    Retries back off in milliseconds here, so fault storms finish quickly."""
    return _workspace(tmp_path, served, emulator, monkeypatch)


def _workspace(
    root: Path, url: str, app: EmulatorApp, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    monkeypatch.setattr(
        client_module, "DEFAULT_POLICY", RetryPolicy(attempts=8, base_delay=0.002, max_delay=0.02)
    )
    return Workspace(root, url, app)


@pytest.fixture
def strict_emulator() -> EmulatorApp:
    """The emulator in strict mode: only the writes Adobe's documents show."""
    return EmulatorApp(config=emulator_config(strict=True))


@pytest.fixture
def strict_workspace(
    tmp_path: Path, strict_emulator: EmulatorApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A user's folder with the CLI pointed at the strict emulator over loopback HTTP; its
    requests are in `workspace.log` (a RequestLog)."""
    yield from _logged_workspace(tmp_path, strict_emulator, monkeypatch)


@pytest.fixture
def strict_workspace_known_conflicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """As strict_workspace, but also accepting the undocumented writes the tool is known to
    send today (tests/contract/conflicts.py): everything else must be documented."""
    app = EmulatorApp(config=emulator_config(strict=True, also_accept=UNDOCUMENTED_TOOL_WRITES))
    yield from _logged_workspace(tmp_path, app, monkeypatch)


@pytest.fixture
def writerless_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """As workspace, against a platform whose objects do not say which client last wrote
    them (no createdClient or updatedClient); requests are in `workspace.log`."""
    app = EmulatorApp(config=emulator_config(record_clients=False))
    yield from _logged_workspace(tmp_path, app, monkeypatch)


@pytest.fixture
def strict_writerless_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """As strict_workspace, on a platform whose objects do not say who last wrote them."""
    app = EmulatorApp(config=emulator_config(strict=True, record_clients=False))
    yield from _logged_workspace(tmp_path, app, monkeypatch)


@pytest.fixture
def recorded_workspace(
    tmp_path: Path, emulator: EmulatorApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A workspace on the lenient emulator that records every request (`workspace.log`)."""
    yield from _logged_workspace(tmp_path, emulator, monkeypatch)


def _logged_workspace(
    root: Path, app: EmulatorApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    log = RequestLog(app)
    with serving(app) as url:
        ws = _workspace(root, url, app, monkeypatch)
        ws.log = log
        yield ws
