"""The Audiences API of the emulator: lists, reads, bulk reads, sandboxes, seeding, 403."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from provisioner.emulator import EmulatorApp, Store
from provisioner.emulator.audiences import AUDIENCES_PATH, SeedError, load_seed_file
from provisioner.emulator.cli import emulator as emulator_cli
from provisioner.emulator.server import EmulatorTransport
from tests.emulator_support import ADMIN_AUTH, Api, start_serve_process

ROOT = Path(__file__).parent.parent
MEN = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"
WOMEN = "0b5f7e1c-3f1a-4a8e-9b1d-6f2f3c4d5e6a"
LAPSED = "2d7b9a3e-5b3c-4c0a-9d3f-8b4c5d6e7f80"
UNKNOWN = "3e8c0b4f-6c4d-4d1b-8e4a-9c5d6e7f8091"
SEED = [
    {"id": MEN, "name": "Men over 50", "description": "Loyal customers"},
    {"id": WOMEN, "name": "Women 18-25"},
    {"id": LAPSED, "name": "Lapsed 90 days", "lifecycleState": "inactive"},
]


def audience_api(client: httpx.Client, sandbox: str = "prod") -> Api:
    return Api(client, sandbox)


def get(api: Api, suffix: str = "", **params: Any) -> httpx.Response:
    return api.get(AUDIENCES_PATH + suffix, params=params)


def bulk_get(api: Api, ids: list[str]) -> httpx.Response:
    return api.post(AUDIENCES_PATH + "/bulk-get", json={"ids": [{"id": i} for i in ids]})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The Segmentation Service's documented error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://ns.adobe.com/aep/errors/UPAPI-{code}-{status}"
    assert body["errors"][str(status)][0]["message"] == body["title"]
    assert body["requestId"]


# a seeded sandbox ------------------------------------------------------------------------


def test_list_returns_every_audience_with_its_lifecycle_state(
    emulator: EmulatorApp, client: httpx.Client
) -> None:
    emulator.seed_audiences("prod", SEED)
    body = get(audience_api(client)).json()
    names = [(a["name"], a["lifecycleState"]) for a in body["children"]]
    assert names == [("Lapsed 90 days", "inactive"), ("Men over 50", "active"),
                     ("Women 18-25", "active")]  # fmt: skip
    men = body["children"][1]
    assert men["id"] == men["audienceId"] == MEN
    assert men["description"] == "Loyal customers"
    assert men["sandbox"]["sandboxName"] == "prod" and men["imsOrgId"].endswith("@AdobeOrg")
    assert body["_page"]["totalCount"] == 3 and "next" not in body["_page"]
    assert body["_links"] == {}


def test_list_pages_through_start_and_next(emulator: EmulatorApp, api: Api) -> None:
    seeded = [{"id": str(uuid.uuid4()), "name": f"audience {i:02d}"} for i in range(25)]
    emulator.seed_audiences("prod", seeded)
    seen: list[str] = []
    start: int | None = 0
    pages = 0
    while start is not None and pages < 10:
        body = get(api, start=start, limit=10).json()
        seen += [a["name"] for a in body["children"]]
        start = body["_page"].get("next")
        pages += 1
    assert seen == sorted(a["name"] for a in seeded)
    assert pages == 3
    first = get(api, limit=10).json()
    assert first["_page"] == {
        "totalCount": 25,
        "totalPages": 3,
        "sortField": "name",
        "sort": "asc",
        "pageSize": 10,
        "limit": 10,
        "start": 0,
        "next": 10,
    }
    assert first["_links"]["next"]["href"] == "@/audiences?start=10&limit=10&totalCount=25"
    assert get(api, start=30).json()["children"] == []


def test_name_filter_is_a_case_insensitive_substring(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    assert [a["id"] for a in get(api, name="MEN").json()["children"]] == [MEN, WOMEN]
    assert [a["id"] for a in get(api, name="over 5").json()["children"]] == [MEN]
    assert get(api, name="nobody").json()["children"] == []


def test_property_filter_matches_exactly(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    inactive = get(api, property="lifecycleState==inactive").json()["children"]
    assert [a["id"] for a in inactive] == [LAPSED]
    by_name = get(api, property="name==Men over 50").json()["children"]
    assert [a["id"] for a in by_name] == [MEN]
    assert get(api, property="name==men over 50").json()["children"] == []
    assert_error(get(api, property="lifecycleState"), 400, "113008")
    assert_error(get(api, limit="ten"), 400, "113008")
    assert_error(get(api, start=-1), 400, "113008")


@pytest.mark.parametrize(
    ("condition", "operator"),
    [("name!=Men over 50", "!="), ("name>==x", ">=="), ("name~Men", "~"), ("name=Men", "=")],
)
def test_an_unknown_filter_operator_is_refused_not_an_empty_list(
    emulator: EmulatorApp, api: Api, condition: str, operator: str
) -> None:
    emulator.seed_audiences("prod", SEED)
    refused = get(api, property=condition)
    assert refused.status_code == 400
    code = "NEBULA-100058-400"
    message = f"Unknown operator '{operator}'; a property filter is attribute==value"
    assert refused.json() == {
        "type": f"https://ns.adobe.com/aep/errors/{code}",
        "title": "Unknown operator",
        "status": 400,
        "errors": {"400": [{"code": code, "message": message, "value": condition}]},
    }


def test_read_by_id_answers_seeded_audiences_only(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    read = get(api, f"/{LAPSED}")
    assert read.status_code == 200
    assert (read.json()["name"], read.json()["lifecycleState"]) == ("Lapsed 90 days", "inactive")
    assert_error(get(api, f"/{UNKNOWN}"), 404, "113430")


def test_bulk_get_answers_207_with_found_and_missing(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    response = bulk_get(api, [MEN, UNKNOWN, "not-a-uuid"])
    assert response.status_code == 207
    results = response.json()["results"]
    assert set(results) == {MEN, UNKNOWN, "not-a-uuid"}
    assert results[MEN]["name"] == "Men over 50"
    assert results[UNKNOWN]["errors"] == {"404": [{"code": 404, "message": "Not found."}]}
    assert "name" not in results["not-a-uuid"]


def test_bulk_get_of_nothing_found_and_bad_counts(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    none_found = bulk_get(api, [UNKNOWN])
    assert_error(none_found, 404, "113000")
    assert UNKNOWN in none_found.json()["title"]
    assert_error(bulk_get(api, []), 400, "113015")
    assert_error(bulk_get(api, [str(uuid.uuid4()) for _ in range(101)]), 400, "113015")
    assert_error(api.post(AUDIENCES_PATH + "/bulk-get", json={"ids": [MEN]}), 400, "113015")


def test_sandboxes_are_kept_apart(emulator: EmulatorApp, client: httpx.Client) -> None:
    emulator.seed_audiences("prod", SEED[:1])
    emulator.seed_audiences("dev", SEED[1:2])
    prod, dev = audience_api(client, "prod"), audience_api(client, "dev")
    assert [a["id"] for a in get(prod).json()["children"]] == [MEN]
    assert [a["id"] for a in get(dev).json()["children"]] == [WOMEN]
    assert get(prod, f"/{WOMEN}").status_code == 404
    assert get(dev, f"/{MEN}").status_code == 404
    assert get(dev).json()["children"][0]["sandbox"]["sandboxName"] == "dev"


def test_a_seeded_sandbox_with_no_audiences_knows_none(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", [])
    assert get(api, f"/{MEN}").status_code == 404


def test_seeding_again_updates_and_replace_forgets(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    etag = get(api, f"/{MEN}").json()["_etag"]
    emulator.seed_audiences("prod", SEED)
    assert get(api, f"/{MEN}").json()["_etag"] == etag  # the same seed changes nothing
    emulator.seed_audiences("prod", [{"id": MEN, "name": "Men over 55"}])
    assert get(api, f"/{MEN}").json()["name"] == "Men over 55"
    assert get(api).json()["_page"]["totalCount"] == 3
    emulator.seed_audiences("prod", [{"id": WOMEN, "name": "Women"}], replace=True)
    assert [a["id"] for a in get(api).json()["children"]] == [WOMEN]


# a sandbox never seeded ------------------------------------------------------------------


def test_an_unseeded_sandbox_accepts_any_uuid(api: Api) -> None:
    read = get(api, f"/{UNKNOWN}")
    assert read.status_code == 200
    assert (read.json()["id"], read.json()["name"], read.json()["lifecycleState"]) == (
        UNKNOWN,
        "",
        "active",
    )
    bulk = bulk_get(api, [MEN, UNKNOWN, "not-a-uuid"])
    assert bulk.status_code == 207
    results = bulk.json()["results"]
    assert results[MEN]["lifecycleState"] == results[UNKNOWN]["lifecycleState"] == "active"
    assert "errors" in results["not-a-uuid"]
    assert get(api, "/not-a-uuid").status_code == 404
    listed = get(api).json()
    assert listed["children"] == [] and listed["_page"]["totalCount"] == 0


def test_forgetting_a_sandbox_makes_it_accept_any_id_again(emulator: EmulatorApp, api: Api) -> None:
    emulator.seed_audiences("prod", SEED)
    assert get(api, f"/{UNKNOWN}").status_code == 404
    emulator.audiences.forget("prod")
    assert get(api, f"/{UNKNOWN}").status_code == 200
    assert get(api).json()["children"] == []


# access ----------------------------------------------------------------------------------


def test_a_disabled_sandbox_answers_403(emulator: EmulatorApp, client: httpx.Client) -> None:
    emulator.seed_audiences("prod", SEED)
    emulator.audiences.set_enabled("prod", False)
    prod = audience_api(client)
    for response in (get(prod), get(prod, f"/{MEN}"), bulk_get(prod, [MEN])):
        assert_error(response, 403, "113740")
        assert response.json()["title"] == "The IMS Org is not enabled for External Segment."
    assert get(audience_api(client, "dev")).status_code == 200
    emulator.audiences.set_enabled("prod", True)
    assert get(prod).status_code == 200


def test_the_gateway_checks_come_first(client: httpx.Client) -> None:
    no_token = client.get(AUDIENCES_PATH, headers={"x-api-key": "provisioner-emulator"})
    assert no_token.status_code == 403
    assert no_token.json()["error_code"] == "403010"
    api = Api(client)
    wrong_org = api.get(AUDIENCES_PATH, headers={"x-gw-ims-org-id": "OTHER@AdobeOrg"})
    assert (wrong_org.status_code, wrong_org.json()["error_code"]) == (403, "403025")


# seeding through the test endpoints --------------------------------------------------------


def test_admin_endpoints_seed_disable_and_forget(api: Api) -> None:
    seeded = api.post("/emulator/audiences", json={"prod": SEED, "dev": []})
    assert seeded.json() == {"seeded": {"prod": 3, "dev": 0}}
    assert get(api).json()["_page"]["totalCount"] == 3
    replaced = api.request("PUT", "/emulator/audiences/prod", json=SEED[:1])
    assert replaced.json() == {"seeded": {"prod": 1}}
    state = api.get("/emulator/audiences/prod").json()
    assert (state["seeded"], state["enabled"], len(state["audiences"])) == (True, True, 1)
    access = api.request("PUT", "/emulator/audiences/prod/access", json={"enabled": False})
    assert access.json()["enabled"] is False
    assert get(api).status_code == 403
    api.request("PUT", "/emulator/audiences/prod/access", json={"enabled": True})
    assert api.delete("/emulator/audiences/prod").json()["seeded"] is False
    assert get(api, f"/{UNKNOWN}").status_code == 200
    bad = api.post("/emulator/audiences", json={"prod": [{"id": MEN}]})
    assert bad.status_code == 400 and "'name' is required" in bad.json()["error"]


# seeding from files and the command ------------------------------------------------------


def test_seed_files_are_checked(tmp_path: Path) -> None:
    cases = {
        "not-a-mapping.yaml": ("- id: x\n  name: y\n", "maps sandbox names"),
        "no-name.yaml": ("prod:\n  - id: x\n", "prod[0]: 'name' is required"),
        "typo.yaml": ("prod:\n  - id: x\n    name: y\n    nmae: z\n", "unknown key(s) nmae"),
        "state.yaml": ("prod:\n  - {id: x, name: y, lifecycleState: gone}\n", "lifecycleState"),
        "twice.yaml": ("prod:\n  - {id: x, name: y}\n  - {id: x, name: z}\n", "listed twice"),
        "bad.yaml": ("prod: [\n", "not valid YAML"),
    }
    for file_name, (text, message) in cases.items():
        path = tmp_path / file_name
        path.write_text(text)
        with pytest.raises(SeedError, match=re.escape(message)):
            load_seed_file(path)


def test_the_example_seed_holds_every_audience_of_the_examples() -> None:
    seeds = load_seed_file(ROOT / "examples" / "audiences.yaml")
    assert list(seeds) == ["prod"]
    seeded = {a.id: a.name for a in seeds["prod"]}
    yaml = YAML(typ="safe", pure=True)
    for manifest in sorted((ROOT / "examples" / "destinations").glob("*.yaml")):
        for document in yaml.load_all(manifest.read_text()):
            for audience in document.get("audiences") or []:
                if isinstance(audience, str):
                    assert audience in seeded, (manifest, audience)
                else:
                    assert seeded.get(audience["id"]) == audience["name"], (manifest, audience)


def test_the_seed_command_writes_the_embedded_emulators_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seed = tmp_path / "audiences.json"
    seed.write_text(json.dumps([{"id": MEN, "name": "Men over 50"}]))
    runner = CliRunner()
    result = runner.invoke(emulator_cli, ["audiences", "seed", "--sandbox", "dev", str(seed)])
    assert result.exit_code == 0, result.output
    assert "sandbox dev: 1 audience(s) seeded" in result.output
    db = tmp_path / ".provisioner" / "emulator.db"
    listed = runner.invoke(emulator_cli, ["audiences", "list", "--sandbox", "dev"])
    assert MEN in listed.output and "Men over 50" in listed.output
    disabled = runner.invoke(emulator_cli, ["audiences", "disable", "--sandbox", "dev"])
    assert disabled.exit_code == 0
    app = EmulatorApp(Store(db))  # as the embedded emulator opens it
    with httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator") as client:
        assert get(audience_api(client, "dev")).status_code == 403
        runner.invoke(emulator_cli, ["audiences", "enable", "--sandbox", "dev"])
        assert [a["name"] for a in get(audience_api(client, "dev")).json()["children"]] == [
            "Men over 50"
        ]
    missing = runner.invoke(emulator_cli, ["audiences", "seed", "--sandbox", "qa", str(seed)])
    assert missing.exit_code == 0  # a bare list goes to the sandbox named
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("prod:\n  - id: x\n")
    refused = runner.invoke(emulator_cli, ["audiences", "seed", str(wrong)])
    assert refused.exit_code == 1 and "'name' is required" in refused.output


def test_serve_seeds_audiences_from_a_file(tmp_path: Path) -> None:
    process, url = start_serve_process(
        "--db",
        ":memory:",
        "--audiences",
        str(ROOT / "examples" / "audiences.yaml"),
        "--audiences-disabled",
        "blocked",
        cwd=tmp_path,
    )
    try:
        with httpx.Client(base_url=url) as client:
            found = get(audience_api(client), f"/{MEN}").json()
            assert found["name"] == "Men over 50"
            assert get(audience_api(client), f"/{UNKNOWN}").json()["name"] == "Added in the UI"
            assert get(audience_api(client), f"/{uuid.uuid4()}").status_code == 404
            assert get(audience_api(client, "blocked")).status_code == 403
            state = client.get("/emulator/audiences/prod", auth=ADMIN_AUTH).json()
            assert len(state["audiences"]) == 66
    finally:
        process.terminate()
        process.wait(timeout=10)
