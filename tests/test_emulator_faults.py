"""Injected faults: 429 and 5xx answers, lost and dropped replies, latency, outside edits."""

from __future__ import annotations

import time

import httpx
import pytest

from provisioner.emulator import EmulatorApp, FaultRule
from provisioner.emulator.catalog import IMS_TOKEN_PATH
from tests.emulator_support import Api, Chain, get_token, kinesis_account


def test_429_carries_retry_after(emulator: EmulatorApp, api: Api) -> None:
    emulator.faults.update({"retry_after": 7})
    emulator.faults.add_rule(FaultRule("429", "GET", "/flows"))
    response = api.get("/flows")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert api.get("/flows").status_code == 200  # the rule was used up


def test_rates_are_seeded_and_roughly_honoured(emulator: EmulatorApp, api: Api) -> None:
    emulator.faults.update({"rate_429": 0.3, "rate_5xx": 0.1, "seed": 42})
    statuses = [api.get("/flows").status_code for _ in range(400)]
    share_429, share_503 = statuses.count(429) / 400, statuses.count(503) / 400
    assert 0.2 < share_429 < 0.4 and 0.04 < share_503 < 0.16
    assert set(statuses) == {200, 429, 503}


def test_lost_create_is_committed_but_unanswered(emulator: EmulatorApp, api: Api) -> None:
    emulator.faults.add_rule(FaultRule("lose", "POST", "/connections"))
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/connections", json=kinesis_account(name="lost one"))
    names = [c["name"] for c in api.get("/connections").json()["items"]]
    assert names == ["lost one"]


def test_the_token_reply_can_be_lost(emulator: EmulatorApp, client: httpx.Client) -> None:
    emulator.faults.add_rule(FaultRule("lose", "POST", IMS_TOKEN_PATH))
    with pytest.raises(httpx.RemoteProtocolError):
        get_token(client)
    assert emulator.faults.rules == []
    assert get_token(client).json()["token_type"] == "bearer"


def test_dropped_request_commits_nothing(emulator: EmulatorApp, api: Api) -> None:
    emulator.faults.add_rule(FaultRule("drop", "POST"))
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/connections", json=kinesis_account())
    assert api.get("/connections").json()["items"] == []


def test_latency_is_added(emulator: EmulatorApp, api: Api) -> None:
    emulator.faults.update({"latency_ms": 30})
    started = time.perf_counter()
    api.get("/flows")
    assert time.perf_counter() - started >= 0.03


def test_outside_edit_changes_the_flow_like_the_ui(api: Api) -> None:
    flow = Chain(api).flow
    before = api.one(f"/flows/{flow}")
    response = api.post(
        f"/emulator/edit/flows/{flow}",
        json=[{"op": "replace", "path": "/description", "value": "edited in the UI"}],
    )
    assert response.status_code == 200
    after = api.one(f"/flows/{flow}")
    assert after["description"] == "edited in the UI"
    assert after["etag"] != before["etag"] and after["updatedClient"] == "exc_app"


def test_admin_endpoints_manage_faults_and_count_requests(api: Api) -> None:
    assert api.get("/emulator/health").json() == {"status": "ok"}
    api.request("POST", "/emulator/stats/reset")
    api.get("/flows")
    api.get("/flows")
    assert api.get("/emulator/stats").json()["requests"] == {"GET": 2, "total": 2}
    updated = api.request("PUT", "/emulator/faults", json={"latency_ms": 1, "rate_429": 0.5})
    assert updated.json()["rate_429"] == 0.5
    rule = api.post("/emulator/rules", json={"action": "503", "method": "DELETE"})
    assert rule.json()["rules"] == [{"action": "503", "method": "DELETE", "path": "", "times": 1}]
    assert api.request("PUT", "/emulator/faults", json={"nope": 1}).status_code == 400


def test_without_faults_a_request_never_consults_them(
    emulator: EmulatorApp, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    consulted: list[str] = []
    choose = emulator.faults.choose

    def counted(method: str, path: str) -> str | None:
        consulted.append(f"{method} {path}")
        return choose(method, path)

    monkeypatch.setattr(emulator.faults, "choose", counted)
    assert api.get("/flows").status_code == 200
    assert consulted == []
    emulator.faults.update({"latency_ms": 1})  # any fault set: consulted from now on
    assert api.get("/flows").status_code == 200
    assert consulted == ["GET /data/foundation/flowservice/flows"]


def test_requests_in_flight_are_measured_from_the_first_stats_reset(
    emulator: EmulatorApp, api: Api
) -> None:
    api.get("/flows")
    assert api.get("/emulator/stats").json()["in_flight"] is None  # not measured: no cost
    assert emulator.stats.in_flight is None
    api.request("POST", "/emulator/stats/reset")
    emulator.faults.update({"latency_ms": 20})
    api.get("/flows")
    in_flight = api.get("/emulator/stats").json()["in_flight"]
    assert in_flight["peak"] == 1 and in_flight["current"] == 0
    assert in_flight["request_seconds"] >= 0.02
