"""The emulator runs dataflows: its clock, `/runs`, the platform's rewrite of a dataflow
after each run, the records each run exported, and faults that make runs fail."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner.cli import main
from provisioner.emulator import EmulatorApp
from provisioner.emulator import runs as runs_module
from provisioner.emulator.audiences import SeedError, parse_seed
from provisioner.emulator.runs import RECORDS_KEPT
from provisioner.emulator.server import EmulatorTransport
from provisioner.emulator.store import Store
from tests.emulator_support import (
    ADMIN_AUTH,
    Api,
    Chain,
    seed_destinations,
    segment,
    start_serve_process,
)
from tests.workspace import AUDIENCES, Workspace, kinesis

HOUR_MS = 3_600_000
FIRST, SECOND = AUDIENCES[0], AUDIENCES[1]
ATTRIBUTES = ("person.name.firstName", "personalEmail.address", "mobilePhone.number")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PLATFORM_WRITER = "acp_foundation_connectors"
RUN_KEYS = {
    "id",
    "flowId",
    "createdAt",
    "updatedAt",
    "createdClient",
    "updatedClient",
    "sandboxId",
    "sandboxName",
    "imsOrgId",
    "etag",
    "metrics",
}
COUNTS = (
    "inputRecordCount",
    "outputRecordCount",
    "createdRecordCount",
    "updatedRecordCount",
    "deletedRecordCount",
    "skippedRecordCount",
    "failedRecordCount",
)


def attribute(path: str) -> dict[str, Any]:
    return {"type": "JSON_PATH", "value": {"path": path, "operator": "EXISTS"}}


def dataflow(
    api: Api, audiences: list[str], attributes: tuple[str, ...] = (), name: str = "flow"
) -> Chain:
    """A whole destination chain whose dataflow maps `audiences` and `attributes`."""
    chain = Chain(api, name)
    ops = [
        {"op": "add", "path": f"/transformations/0/params/{group}/selectors/-", "value": value}
        for group, values in (
            ("segmentSelectors", [segment(a) for a in audiences]),
            ("profileSelectors", [attribute(p) for p in attributes]),
        )
        for value in values
    ]
    if ops:
        etag = api.one(f"/flows/{chain.flow}")["etag"]
        assert api.patch(f"/flows/{chain.flow}", ops, etag).status_code == 200
    return chain


def runs_of(api: Api, flow_id: str, *query: str) -> list[dict[str, Any]]:
    response = api.get(f"/runs?property=flowId=={flow_id}" + "".join(f"&{q}" for q in query))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def advance(api: Api, hours: int = 1) -> dict[str, Any]:
    response = api.post("/emulator/advance", json={"hours": hours})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def summary(run: dict[str, Any]) -> dict[str, Any]:
    record_summary: dict[str, Any] = run["metrics"]["recordSummary"]
    return record_summary


def entity_ids(run: dict[str, Any]) -> set[str]:
    (source,) = summary(run)["sourceSummaries"]
    return {entity["id"] for entity in source["entitySummaries"]}


def leaf_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        paths |= leaf_paths(value, path + ".") if isinstance(value, dict) else {path}
    return paths


def exports(url: str, flow_id: str, run_id: str | None = None) -> httpx.Response:
    params = {"flowId": flow_id, **({"run": run_id} if run_id else {})}
    return httpx.get(f"{url}/emulator/exports", params=params, auth=ADMIN_AUTH)


def without_platform_stamps(flow: dict[str, Any]) -> dict[str, Any]:
    """The dataflow's selectors without what the platform adds to them once they have run."""
    params = flow["transformations"][0]["params"]
    return {
        group: [
            {
                k: v
                for k, v in s["value"].items()
                if k not in ("createTime", "updateTime", "mapping")
            }
            for s in params[group]["selectors"]
        ]
        for group in ("segmentSelectors", "profileSelectors")
    }


# which dataflows run ---------------------------------------------------------------------


def test_advance_runs_each_enabled_dataflow_with_audiences_once_an_hour(api: Api) -> None:
    running = dataflow(api, [FIRST], name="running").flow
    empty = dataflow(api, [], name="no audiences").flow
    disabled = dataflow(api, [FIRST], name="disabled").flow
    assert api.post(f"/flows/{disabled}/action?op=disable").status_code == 200

    answer = advance(api, hours=2)

    assert [(r["flowId"], r["flowName"], r["status"]) for r in answer["runs"]] == [
        (running, "running", "success")
    ] * 2
    assert len(runs_of(api, running)) == 2
    for quiet in (empty, disabled):
        assert runs_of(api, quiet) == []
        assert "lastRunDetails" not in api.one(f"/flows/{quiet}")


def test_dataflows_run_in_every_sandbox_and_are_listed_in_their_own(client: httpx.Client) -> None:
    prod, dev = Api(client), Api(client, "dev")
    in_prod = dataflow(prod, [FIRST]).flow
    in_dev = dataflow(dev, [FIRST]).flow

    made = advance(prod)["runs"]

    assert {(r["flowId"], r["sandboxName"]) for r in made} == {(in_prod, "prod"), (in_dev, "dev")}
    (dev_run,) = runs_of(dev, in_dev)
    assert dev_run["sandboxName"] == "dev"
    assert runs_of(prod, in_dev) == []
    assert prod.get(f"/runs/{dev_run['id']}").status_code == 404
    assert dev.one(f"/runs/{dev_run['id']}") == dev_run


# the runs API ----------------------------------------------------------------------------


def test_runs_are_listed_newest_first_in_the_platforms_shape(api: Api) -> None:
    chain = dataflow(api, [FIRST, SECOND], ATTRIBUTES)
    advance(api, hours=3)

    response = api.get(f"/runs?property=flowId=={chain.flow}")
    assert response.json()["_links"] == {}
    runs = response.json()["items"]
    assert len(runs) == 3
    assert [r["createdAt"] for r in runs] == sorted((r["createdAt"] for r in runs), reverse=True)
    assert HOUR_MS <= runs[0]["createdAt"] - runs[1]["createdAt"] < HOUR_MS + 5_000
    newest = runs[0]
    assert set(newest) >= RUN_KEYS
    assert (newest["flowId"], newest["sandboxName"]) == (chain.flow, "prod")
    assert (newest["createdClient"], newest["updatedClient"]) == (
        "AepActivationService",
        PLATFORM_WRITER,
    )
    duration = newest["metrics"]["durationSummary"]
    assert duration["startedAtUTC"] == newest["createdAt"] < duration["completedAtUTC"]
    assert newest["metrics"]["statusSummary"] == {"status": "success", "errors": []}
    counts = summary(newest)
    assert all(isinstance(counts[name], int) for name in COUNTS)
    assert counts["inputRecordCount"] == counts["outputRecordCount"] + counts["skippedRecordCount"]
    assert counts["failedRecordCount"] == 0
    assert counts["failedInfo"] == []
    skipped = [info["count"] for info in counts["skippedInfo"]]
    assert sum(skipped) == counts["skippedRecordCount"]
    (source,) = counts["sourceSummaries"]
    assert source["id"] == chain.source
    assert entity_ids(newest) == {f"segment:{FIRST}", f"segment:{SECOND}"}
    assert [t["id"] for t in counts["targetSummaries"]] == [chain.target]

    assert runs_of(api, chain.flow, "limit=2") == runs[:2]
    assert api.one(f"/runs/{newest['id']}") == newest
    chosen = runs_of(api, chain.flow, "property=metrics.statusSummary.status==success")
    assert chosen == runs


def test_runs_are_read_only(api: Api) -> None:
    chain = dataflow(api, [FIRST])
    advance(api)
    (run,) = runs_of(api, chain.flow)

    created = api.post("/runs", json={"flowId": chain.flow})
    assert created.status_code == 400 and created.json()["type"].endswith("-400")
    for method in ("PATCH", "PUT", "DELETE"):
        refused = api.request(method, f"/runs/{run['id']}", json=[])
        assert refused.status_code == 405, method
    assert runs_of(api, chain.flow) == [run]


def test_strict_mode_serves_runs_and_refuses_writing_them(strict_emulator: EmulatorApp) -> None:
    transport = EmulatorTransport(strict_emulator)
    with httpx.Client(transport=transport, base_url="http://emulator") as client:
        api = Api(client)
        chain = dataflow(api, [FIRST])
        strict_emulator.advance()
        assert len(runs_of(api, chain.flow)) == 1
        assert api.post("/runs", json={"flowId": chain.flow}).status_code == 400


def test_every_dataflow_links_its_runs(api: Api) -> None:
    flow = api.one(f"/flows/{dataflow(api, []).flow}")
    link = f"/runs?property=flowId=={flow['id']}"
    assert flow["_links"]["runs"] == {"href": link}
    assert flow["runs"] == link


# counting profiles -----------------------------------------------------------------------


def test_seeded_audience_sizes_are_the_runs_input(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences(
        "prod", [{"id": FIRST, "name": "first", "totalProfiles": 40}, {"id": SECOND, "name": "s"}]
    )
    chain = dataflow(api, [FIRST, SECOND])
    advance(api)

    (run,) = runs_of(api, chain.flow)
    (source,) = summary(run)["sourceSummaries"]
    sizes = {e["id"]: e["inputRecordCount"] for e in source["entitySummaries"]}
    assert sizes[f"segment:{FIRST}"] == 40
    assert 5 <= sizes[f"segment:{SECOND}"] <= 20
    # Without mapped attributes nobody is excluded: every profile is exported, once.
    assert summary(run)["skippedRecordCount"] == 0
    assert max(sizes.values()) <= summary(run)["outputRecordCount"] <= sum(sizes.values())
    assert len(emulator.runs.records(chain.flow)) == summary(run)["outputRecordCount"]


def test_an_audience_the_sandbox_does_not_have_exports_nobody(
    emulator: EmulatorApp, api: Api
) -> None:
    emulator.seed_audiences("prod", [{"id": FIRST, "name": "first"}])
    chain = dataflow(api, [SECOND])
    advance(api)
    (run,) = runs_of(api, chain.flow)
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert summary(run)["inputRecordCount"] == summary(run)["outputRecordCount"] == 0


@pytest.mark.parametrize("total", [-1, 10_001, True, "40"])
def test_seeded_sizes_are_checked(total: object) -> None:
    with pytest.raises(SeedError, match="totalProfiles"):
        parse_seed({"prod": [{"id": FIRST, "name": "n", "totalProfiles": total}]})


# exported records ------------------------------------------------------------------------


def test_records_carry_the_mapped_attributes_memberships_and_identities(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    # 64 members each: both audiences start within the first 64 profiles, so they share some.
    seeds = [{"id": a, "name": a[:8], "totalProfiles": 64} for a in (FIRST, SECOND)]
    emulator.seed_audiences("prod", seeds)
    workspace.write("orders.yaml", kinesis("orders", [FIRST, SECOND], ATTRIBUTES))
    assert workspace.apply().code == 0
    flow_id = workspace.flow("orders")["id"]
    (run,) = emulator.advance()

    exported = exports(workspace.url, flow_id).json()
    assert (exported["runId"], exported["status"]) == (run["id"], "success")
    records = exported["records"]
    assert len(records) == summary(run)["outputRecordCount"] > 0
    attributes: set[str] = set()
    for record in records:
        assert set(record) <= {"person", "personalEmail", "mobilePhone"} | {
            "segmentMembership",
            "identityMap",
        }
        mapped = {k: v for k, v in record.items() if k not in ("segmentMembership", "identityMap")}
        assert mapped, "a record without a mapped attribute is excluded, not exported"
        attributes |= leaf_paths(mapped)
        memberships = record["segmentMembership"]["ups"]
        assert memberships and set(memberships) <= {FIRST, SECOND}
        for membership in memberships.values():
            assert membership["status"] == "realized"
            assert ISO_UTC.fullmatch(membership["lastQualificationTime"])
        assert re.fullmatch(r"\d{38}", record["identityMap"]["ecid"][0]["id"])
    assert attributes == set(ATTRIBUTES)
    assert any(set(r["segmentMembership"]["ups"]) == {FIRST, SECOND} for r in records)
    assert all(
        r["personalEmail"]["address"].endswith("@example.com")
        for r in records
        if "personalEmail" in r
    )
    assert exports(workspace.url, flow_id, run["id"]).json() == exported


def test_records_are_the_same_from_run_to_run(emulator: EmulatorApp, api: Api) -> None:
    chain = dataflow(api, [FIRST], ATTRIBUTES)
    first, second = emulator.advance(2)
    assert emulator.runs.records(chain.flow, first["id"]) == emulator.runs.records(chain.flow)
    assert second["id"] != first["id"]


def test_only_the_newest_runs_records_are_kept(emulator: EmulatorApp, api: Api) -> None:
    chain = dataflow(api, [FIRST])
    oldest, *_ = emulator.advance(RECORDS_KEPT + 1)
    with pytest.raises(LookupError):
        emulator.runs.records(chain.flow, oldest["id"])
    assert len(runs_of(api, chain.flow)) == RECORDS_KEPT + 1  # the run itself stays listed
    assert api.get(f"/emulator/exports?flowId={chain.flow}&run={oldest['id']}").status_code == 404
    assert api.get("/emulator/exports").status_code == 400


def test_only_the_newest_runs_of_a_dataflow_are_kept(
    emulator: EmulatorApp, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_module, "RUNS_KEPT", 2)
    chain = dataflow(api, [FIRST])
    other = dataflow(api, [SECOND], name="other")
    made = emulator.advance(3)
    newest = [r["id"] for r in reversed(made) if r["flowId"] == chain.flow][:2]
    assert [r["id"] for r in runs_of(api, chain.flow)] == newest
    assert len(runs_of(api, other.flow)) == 2


# what the platform writes after a run ----------------------------------------------------


def test_the_rewrite_after_a_run_leaves_the_plan_without_changes(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST], ATTRIBUTES[:2], description="d"))
    assert workspace.apply().code == 0
    before = workspace.flow("orders")

    (run,) = emulator.advance()

    after = workspace.flow("orders")
    assert after["etag"] != before["etag"]
    assert after["updatedAt"] > before["updatedAt"]
    assert (after["updatedClient"], after["updatedBy"]) == (
        PLATFORM_WRITER,
        f"{PLATFORM_WRITER}@AdobeID",
    )
    duration = run["metrics"]["durationSummary"]
    assert after["lastRunDetails"] == {
        "id": run["id"],
        "state": "success",
        "startedAtUTC": duration["startedAtUTC"],
        "completedAtUTC": duration["completedAtUTC"],
    }
    assert after["updatedAt"] > duration["completedAtUTC"]
    unchanged = ("name", "description", "state", "sourceConnectionIds", "targetConnectionIds")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["lastOperation"] == before["lastOperation"]
    assert without_platform_stamps(after) == without_platform_stamps(before)
    params = after["transformations"][0]["params"]
    (audience,) = [s["value"] for s in params["segmentSelectors"]["selectors"]]
    assert audience["createTime"] == audience["updateTime"] == str(duration["startedAtUTC"] // 1000)
    for selector in params["profileSelectors"]["selectors"]:
        assert selector["value"]["mapping"]["destinationXdmPath"] == selector["value"]["path"]

    assert workspace.plan("--detailed-exitcode").code == 0
    emulator.advance(2)
    assert workspace.plan("--detailed-exitcode").code == 0


def test_a_removed_audience_leaves_later_runs(workspace: Workspace, emulator: EmulatorApp) -> None:
    workspace.write("orders.yaml", kinesis("orders", [FIRST, SECOND], ATTRIBUTES))
    assert workspace.apply().code == 0
    flow_id = workspace.flow("orders")["id"]
    (before,) = emulator.advance()
    workspace.write("orders.yaml", kinesis("orders", [FIRST], ATTRIBUTES))
    assert workspace.apply().code == 0

    (after,) = emulator.advance()

    assert entity_ids(before) == {f"segment:{FIRST}", f"segment:{SECOND}"}
    assert entity_ids(after) == {f"segment:{FIRST}"}
    for record in emulator.runs.records(flow_id, after["id"]):
        assert set(record["segmentMembership"]["ups"]) == {FIRST}
    earlier = emulator.runs.records(flow_id, before["id"])
    assert any(SECOND in r["segmentMembership"]["ups"] for r in earlier)
    assert workspace.plan("--detailed-exitcode").code == 0


# run faults ------------------------------------------------------------------------------


def test_an_unreachable_stream_fails_the_next_run(api: Api) -> None:
    chain = dataflow(api, [FIRST], ATTRIBUTES)
    advance(api)
    (healthy,) = runs_of(api, chain.flow)
    fault = {"targetConnectionId": chain.target, "fault": "unreachable", "runs": 1}
    assert api.post("/emulator/run-faults", json=fault).status_code == 201

    advance(api, hours=2)

    recovered, failed, _ = runs_of(api, chain.flow)
    would_export = summary(healthy)["outputRecordCount"]
    (error,) = failed["metrics"]["statusSummary"]["errors"]
    assert failed["metrics"]["statusSummary"]["status"] == "failed"
    assert (error["code"], error["count"], error["type"]) == (
        "CONNECTOR-1001-500",
        would_export,
        "Error",
    )
    assert "'orders'" in error["message"] and "could not be reached" in error["message"]
    counts = summary(failed)
    assert (counts["outputRecordCount"], counts["failedRecordCount"]) == (0, would_export)
    assert counts["skippedRecordCount"] == summary(healthy)["skippedRecordCount"]
    assert [i["code"] for i in counts["failedInfo"]] == ["CONNECTOR-1001-500"]
    assert recovered["metrics"]["statusSummary"]["status"] == "success"
    assert api.get("/emulator/run-faults").json() == {"faults": {}}  # used up
    failed_export = api.get(f"/emulator/exports?flowId={chain.flow}&run={failed['id']}").json()
    assert (failed_export["status"], failed_export["records"]) == ("failed", [])


def test_rejected_credentials_fail_every_run_until_cleared(emulator: EmulatorApp, api: Api) -> None:
    chain = dataflow(api, [FIRST])
    emulator.runs.faults.set(chain.target, "rejected")

    emulator.advance(2)

    failing = runs_of(api, chain.flow)
    assert [r["metrics"]["statusSummary"]["status"] for r in failing] == ["failed", "failed"]
    assert (
        "rejected the connection's credentials"
        in (failing[0]["metrics"]["statusSummary"]["errors"][0]["message"])
    )
    assert api.one(f"/flows/{chain.flow}")["lastRunDetails"]["state"] == "failed"
    assert api.delete(f"/emulator/run-faults/{chain.target}").json() == {"faults": {}}
    emulator.advance()
    assert api.one(f"/flows/{chain.flow}")["lastRunDetails"]["state"] == "success"


def test_run_faults_are_checked(api: Api) -> None:
    for fault in (
        {"targetConnectionId": "t", "fault": "slow"},
        {"targetConnectionId": "", "fault": "rejected"},
        {"targetConnectionId": "t", "fault": "rejected", "runs": 0},
    ):
        assert api.post("/emulator/run-faults", json=fault).status_code == 400


# the clock -------------------------------------------------------------------------------


def test_the_clock_moves_and_the_emulators_timestamps_follow_it(api: Api) -> None:
    before = api.get("/emulator/clock").json()
    assert before["offsetMs"] == 0
    assert advance(api, hours=3)["offsetMs"] == 3 * HOUR_MS

    served_at = parsedate_to_datetime(api.get("/flows").headers["date"]).timestamp()
    assert 3 * 3600 - 5 < served_at - time.time() < 3 * 3600 + 5
    created = api.one(f"/flows/{dataflow(api, []).flow}")["createdAt"]
    assert created >= before["now"] + 3 * HOUR_MS


def test_advance_is_checked(api: Api) -> None:
    for hours in (0, -1, 745, "2", True):
        assert api.post("/emulator/advance", json={"hours": hours}).status_code == 400
    assert api.post("/emulator/advance").json()["offsetMs"] == HOUR_MS  # one hour by default


def test_the_admin_endpoints_need_the_emulators_credentials(client: httpx.Client) -> None:
    assert client.post("/emulator/advance", json={"hours": 1}).status_code == 401
    assert client.get("/emulator/exports?flowId=x").status_code == 401
    assert client.post("/emulator/run-faults", json={}).status_code == 401


# the command line ------------------------------------------------------------------------


def provisioner(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    code = stop.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().out


def test_emulator_advance_runs_the_embedded_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / ".provisioner" / "emulator.db"
    store = Store(data)
    (flow_id,) = seed_destinations(store, 1)
    store.close()

    code, out = provisioner(capsys, "emulator", "advance", "--hours", "2")

    assert code == 0, out
    assert out.count("prod  flow-0000  success:") == 2
    assert "2 run(s) of 1 dataflow(s)" in out and "(+2h from real time)" in out
    reopened = EmulatorApp(Store(data))
    assert reopened.store.clock_offset_ms() == 2 * HOUR_MS  # the clock holds between runs
    runs = [run for _, run in reopened.store.runs("prod", frozenset({flow_id}))]
    assert len(runs) == 2
    assert provisioner(capsys, "emulator", "advance")[1].count("success:") == 1


def test_emulator_advance_runs_a_served_emulator(
    served: str, emulator: EmulatorApp, capsys: pytest.CaptureFixture[str]
) -> None:
    (flow_id,) = seed_destinations(emulator.store, 1)

    code, out = provisioner(capsys, "emulator", "advance", "--url", served, "--hours", "3")

    assert code == 0, out
    assert out.count("success:") == 3
    assert {run["flowId"] for _, run in emulator.store.runs("prod")} == {flow_id}
    assert emulator.store.clock_offset_ms() == 3 * HOUR_MS


def test_serve_run_every_advances_an_hour_each_period(tmp_path: Path) -> None:
    process, url = start_serve_process("--db", ":memory:", "--run-every", "0.1", cwd=tmp_path)
    try:
        with httpx.Client(base_url=url) as client:
            api = Api(client)
            chain = dataflow(api, [FIRST])
            deadline = time.monotonic() + 20
            while len(runs_of(api, chain.flow)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(runs_of(api, chain.flow)) >= 2
    finally:
        process.terminate()
        process.wait(timeout=10)
