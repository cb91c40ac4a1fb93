from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport, serving
from provisioner.platform import client as client_module
from provisioner.platform.client import RetryPolicy
from tests.emulator_support import Api
from tests.workspace import Workspace


@pytest.fixture
def emulator() -> EmulatorApp:
    return EmulatorApp()


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
    monkeypatch.setattr(
        client_module, "DEFAULT_POLICY", RetryPolicy(attempts=8, base_delay=0.002, max_delay=0.02)
    )
    return Workspace(tmp_path, served, emulator)
