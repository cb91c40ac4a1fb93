from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport, serving
from tests.emulator_support import Api


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
