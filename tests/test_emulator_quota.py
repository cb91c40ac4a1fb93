"""The emulator's quota per client: a token bucket each, 429 with Retry-After when empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.quota import Quota
from provisioner.emulator.server import EmulatorTransport, serving
from tests.emulator_support import (
    ADMIN_AUTH,
    Api,
    emulator_config,
    kinesis_account,
    start_serve_process,
)

OTHER_CLIENT, OTHER_SECRET = "other-client", "other-secret"


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def metered(clock: FakeClock, rps: float, burst: int) -> EmulatorApp:
    clients = {
        DEFAULT_CLIENT_ID: ("emulator-secret", DEFAULT_ORG),
        OTHER_CLIENT: (OTHER_SECRET, DEFAULT_ORG),
    }
    config = emulator_config(quota_rps=rps, quota_burst=burst, clients=clients)
    return EmulatorApp(config=config, quota_clock=clock)


@pytest.fixture(params=["in-process", "http"])
def metered_client(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[httpx.Client]:
    """A client of an emulator metered at 2 requests/s, burst 3, on the fake clock."""
    app = metered(clock, rps=2, burst=3)
    if request.param == "in-process":
        with httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator") as c:
            yield c
        return
    with serving(app) as url, httpx.Client(base_url=url) as c:
        yield c


def stats(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/emulator/stats", auth=ADMIN_AUTH)
    assert response.status_code == 200
    quota: dict[str, Any] = response.json()["quota"]
    return quota


def other_api(client: httpx.Client) -> Api:
    """A raw client signed in as the emulator's second client."""
    api = Api(client)
    form = {
        "client_id": OTHER_CLIENT,
        "client_secret": OTHER_SECRET,
        "grant_type": "client_credentials",
    }
    token = client.post("/ims/token/v3", data=form).json()["access_token"]
    api.headers = {**api.headers, "Authorization": f"Bearer {token}", "x-api-key": OTHER_CLIENT}
    return api


# the bucket ------------------------------------------------------------------------------


def test_a_bucket_spends_its_burst_then_refuses_until_it_refills(clock: FakeClock) -> None:
    quota = Quota(rate=2, burst=3, clock=clock)
    assert [quota.admit("a") for _ in range(3)] == [None, None, None]
    assert quota.admit("a") == 1
    assert quota.admit("a") == 1  # a refused request takes nothing: still one token short
    clock.advance(0.5)  # one token back
    assert quota.admit("a") is None
    assert quota.admit("a") == 1
    clock.advance(10)  # never more than the burst
    assert [quota.admit("a") for _ in range(4)] == [None, None, None, 1]
    assert quota.snapshot()["accepted"] == 7
    assert quota.snapshot()["refused"] == 4


@pytest.mark.parametrize(
    ("rate", "waited", "retry_after"),
    [
        (100, 0.0, 1),  # 10 ms short: a whole second, never 0
        (0.4, 0.0, 3),  # 2.5 s short: rounded up
        (0.5, 0.0, 2),  # exactly 2 s short: not 3
        (0.1, 3.0, 7),  # 7 s short after 3 s of the 10 a token takes
        (0.1, 9.5, 1),  # half a second short
    ],
)
def test_retry_after_is_the_wait_in_whole_seconds_rounded_up_and_at_least_one(
    clock: FakeClock, rate: float, waited: float, retry_after: int
) -> None:
    quota = Quota(rate=rate, burst=1, clock=clock)
    assert quota.admit("a") is None
    clock.advance(waited)
    assert quota.admit("a") == retry_after
    clock.advance(retry_after)
    assert quota.admit("a") is None  # waiting as told is enough


def test_each_client_has_a_bucket_of_its_own(clock: FakeClock) -> None:
    quota = Quota(rate=1, burst=2, clock=clock)
    assert [quota.admit("a") for _ in range(3)] == [None, None, 1]
    assert [quota.admit("b") for _ in range(2)] == [None, None]
    clients = quota.snapshot()["clients"]
    assert clients == {"a": {"accepted": 2, "refused": 1}, "b": {"accepted": 2, "refused": 0}}


def test_the_burst_defaults_to_one_seconds_worth(clock: FakeClock) -> None:
    assert Quota(rate=2.5, clock=clock).burst == 3
    assert Quota(rate=0.2, clock=clock).burst == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0)])
def test_a_quota_out_of_range_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="quota"):
        Quota(rate=rate, burst=burst)


# the emulator ----------------------------------------------------------------------------


def test_past_its_quota_a_client_is_answered_429_with_retry_after(
    metered_client: httpx.Client, clock: FakeClock
) -> None:
    api = Api(metered_client)  # its token request goes to IMS, which is not metered
    assert [api.get("/flows").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/flows")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {"error_code": "429050", "message": "Too many requests"}
    assert stats(metered_client) == {
        "rps": 2.0,
        "burst": 3,
        "accepted": 3,
        "refused": 1,
        "clients": {DEFAULT_CLIENT_ID: {"accepted": 3, "refused": 1}},
    }
    clock.advance(0.5)
    assert api.get("/flows").status_code == 200


def test_clients_are_metered_apart(metered_client: httpx.Client) -> None:
    first, second = Api(metered_client), other_api(metered_client)
    assert [first.get("/flows").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [second.get("/flows").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert stats(metered_client)["clients"] == {
        DEFAULT_CLIENT_ID: {"accepted": 3, "refused": 1},
        OTHER_CLIENT: {"accepted": 3, "refused": 1},
    }


def test_a_refused_request_does_no_work(metered_client: httpx.Client, clock: FakeClock) -> None:
    api = Api(metered_client)
    for _ in range(3):
        api.get("/flows")
    refused = api.post("/connections", json=kinesis_account(name="never made"))
    assert refused.status_code == 429
    clock.advance(10)
    assert api.get("/connections").json()["items"] == []


def test_without_a_token_the_api_key_names_the_client(metered_client: httpx.Client) -> None:
    """Counted before the gateway looks at the credentials: a client with no token spends
    its API key's quota on the gateway's refusals."""
    flows = "/data/foundation/flowservice/flows"
    answers = [metered_client.get(flows, headers={"x-api-key": "k1"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [403, 403, 403, 429]
    assert metered_client.get(flows, headers={"x-api-key": "k2"}).status_code == 403
    assert stats(metered_client)["clients"] == {
        "k1": {"accepted": 3, "refused": 1},
        "k2": {"accepted": 1, "refused": 0},
    }


def test_admin_and_ims_requests_are_not_metered(metered_client: httpx.Client) -> None:
    for _ in range(5):
        Api(metered_client)  # a token each
        assert metered_client.get("/emulator/clock", auth=ADMIN_AUTH).status_code == 200
    assert stats(metered_client)["accepted"] == 0


def test_a_stats_reset_zeroes_the_counts_and_keeps_the_buckets(
    metered_client: httpx.Client,
) -> None:
    api = Api(metered_client)
    for _ in range(4):
        api.get("/flows")
    assert metered_client.post("/emulator/stats/reset", auth=ADMIN_AUTH).status_code == 200
    assert stats(metered_client)["accepted"] == stats(metered_client)["refused"] == 0
    assert api.get("/flows").status_code == 429  # the bucket is still empty


def test_the_quota_is_set_and_lifted_through_the_admin_endpoint(emulator: EmulatorApp) -> None:
    with httpx.Client(transport=EmulatorTransport(emulator), base_url="http://emulator") as c:
        api = Api(c)
        assert stats(c) is None  # no quota: nothing metered, nothing counted
        answer = c.put("/emulator/quota", json={"rps": 0.001, "burst": 1}, auth=ADMIN_AUTH)
        assert answer.json()["rps"] == 0.001 and answer.json()["burst"] == 1
        assert [api.get("/flows").status_code for _ in range(2)] == [200, 429]
        refused = c.put("/emulator/quota", json={"rps": 0}, auth=ADMIN_AUTH)
        assert refused.status_code == 400 and "rate" in refused.json()["error"]
        assert c.put("/emulator/quota", json={"rps": None}, auth=ADMIN_AUTH).status_code == 200
        assert c.get("/emulator/quota", auth=ADMIN_AUTH).json() == {"rps": None}
        assert api.get("/flows").status_code == 200


@pytest.mark.http
def test_serve_meters_clients_with_quota_options() -> None:
    # One token per 100 s: the fourth request is refused however slow the machine is.
    process, url = start_serve_process(
        "--db", ":memory:", "--quota-rps", "0.01", "--quota-burst", "3"
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(4)]
        assert "  quota: 0.01 requests/s per client, burst 3\n" in banner
        with httpx.Client(base_url=url) as client:
            api = Api(client)
            assert [api.get("/flows").status_code for _ in range(3)] == [200, 200, 200]
            refused = api.get("/flows")
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["Retry-After"]) <= 100
            assert (stats(client)["accepted"], stats(client)["refused"]) == (3, 1)
    finally:
        process.terminate()
        process.wait(timeout=10)
