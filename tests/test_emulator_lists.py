"""List queries: filters, ordering, counting and paging."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.query import parse_filter
from provisioner.emulator.resources import Caller, Resources
from provisioner.platform.ids import SEGMENT_SELECTORS
from tests.emulator_support import Api, Chain, flow_body, kinesis_target, segment

CALLER = Caller("seed", "ORG@AdobeOrg", "prod")


def seed_flows(emulator: EmulatorApp, count: int) -> tuple[str, list[str]]:
    """`count` flows sharing one source and target, created straight in the store."""
    resources = Resources(emulator.store)
    api_chain: dict[str, Any] = {}
    for kind, body in (
        (
            "connections",
            {
                "name": "p",
                "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
            },
        ),
    ):
        api_chain[kind] = resources.create(kind, CALLER, body)["id"]
    source = resources.create(
        "sourceConnections",
        CALLER,
        {
            "name": "s",
            "baseConnectionId": api_chain["connections"],
            "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
        },
    )["id"]
    from tests.emulator_support import kinesis_account

    account = resources.create("connections", CALLER, kinesis_account())["id"]
    target = resources.create("targetConnections", CALLER, kinesis_target(account))["id"]
    ids = [
        resources.create("flows", CALLER, flow_body(source, target, f"flow-{i:04d}"))["id"]
        for i in range(count)
    ]
    return target, ids


def page_all(
    api: Api, path: str, params: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], int]:
    # params=None, not {}: httpx replaces a URL's query string with an empty params dict.
    items, pages = [], 0
    response = api.get(path, params=params)
    collection = path.split("?")[0]
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        assert "_links" in body
        if "next" not in body["_links"]:
            assert body["_links"] == {}
            return items, pages
        href = body["_links"]["next"]["href"]
        assert href.startswith(collection + "?continuationToken=")
        assert href.count("=") == 1  # aepp reads the token as href.split("=")[1]
        response = api.get(href)


def test_paging_returns_every_flow_once(emulator: EmulatorApp, api: Api) -> None:
    _, ids = seed_flows(emulator, 250)
    items, pages = page_all(api, "/flows", {"limit": 100})
    assert pages == 3
    assert sorted(i["id"] for i in items) == sorted(ids)


def test_default_order_is_most_recently_written_first(emulator: EmulatorApp, api: Api) -> None:
    _, ids = seed_flows(emulator, 3)
    assert [f["id"] for f in api.get("/flows").json()["items"]] == ids[::-1]
    flow = api.one(f"/flows/{ids[0]}")
    api.patch(
        f"/flows/{ids[0]}", [{"op": "add", "path": "/description", "value": "x"}], flow["etag"]
    )
    assert api.get("/flows").json()["items"][0]["id"] == ids[0]


def test_paging_keeps_filters_and_order(emulator: EmulatorApp, api: Api) -> None:
    seed_flows(emulator, 45)
    items, pages = page_all(
        api, "/flows", {"limit": 10, "orderby": "-name", "property": "name>=flow-0010"}
    )
    names = [i["name"] for i in items]
    assert pages == 4
    assert names == [f"flow-{i:04d}" for i in range(44, 9, -1)]


def test_paging_survives_deletes_between_pages(emulator: EmulatorApp, api: Api) -> None:
    seed_flows(emulator, 30)
    first = api.get("/flows", params={"limit": 10, "orderby": "name"}).json()
    api.delete(f"/flows/{first['items'][-1]['id']}")
    rest, _ = page_all(api, first["_links"]["next"]["href"], None)
    names = [i["name"] for i in first["items"] + rest]
    assert names == [f"flow-{i:04d}" for i in range(30)]


def test_property_filters(emulator: EmulatorApp, api: Api) -> None:
    chain = Chain(api)
    other = api.created("/targetConnections", kinesis_target(chain.account, "other"))
    second = api.created("/flows", flow_body(chain.source, other, "second"))
    etag = api.one(f"/flows/{second}")["etag"]
    api.patch(
        f"/flows/{second}",
        [{"op": "add", "path": f"{SEGMENT_SELECTORS}/-", "value": segment("aud-1")}],
        etag,
    )
    api.post(f"/flows/{chain.flow}/action", params={"op": "disable"})

    def names(*filters: str, **params: str) -> list[str]:
        query: dict[str, Any] = {"property": list(filters), **params}
        return sorted(f["name"] for f in api.get("/flows", params=query).json()["items"])

    assert names("name==flow") == ["flow"]
    assert names("name==flow,second") == ["flow", "second"]
    assert names("name==flow,second", "state==enabled") == ["second"]
    assert names("state!=enabled") == ["flow"]
    assert names(f"targetConnectionIds[]=={other}") == ["second"]
    assert names(f"targetConnectionIds=={other}") == []  # arrays need []
    assert names("transformations[].params.segmentSelectors.selectors[].value.id==aud-1") == [
        "second"
    ]
    assert names("inheritedAttributes.properties.isDestinationFlow==true") == ["flow", "second"]
    assert names(f"inheritedAttributes.targetConnections[].id=={chain.target}") == ["flow"]
    assert names("description") == ["flow", "second"]
    assert names("labels") == []
    assert names("createdAt>1000000000000") == ["flow", "second"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"property": "name~flow"}, "1448"),
        ({"property": "name==x=="}, None),
        ({"property": "na me==x"}, "1440"),
        ({"orderby": "name;drop"}, "1432"),
        ({"limit": "101"}, "1436"),
        ({"limit": "0"}, "1436"),
        ({"limit": "10", "count": "true"}, "1401"),
        ({"continuationToken": "%%%"}, "1441"),
    ],
)
def test_bad_queries(api: Api, params: dict[str, str], code: str | None) -> None:
    response = api.get("/flows", params=params)
    if code is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["type"].endswith(f"FLOW-{code}-400")


def test_count(emulator: EmulatorApp, api: Api) -> None:
    seed_flows(emulator, 12)
    assert api.get("/flows", params={"count": "true"}).json() == {"count": 12}
    filtered = api.get("/flows", params={"count": "true", "property": "name<=flow-0003"})
    assert filtered.json() == {"count": 4}
    # aepp sends count=False alongside limit: that is a plain list
    listed = api.get("/flows", params={"count": "False", "limit": 5}).json()
    assert len(listed["items"]) == 5


def test_filter_parser_understands_array_steps() -> None:
    parsed = parse_filter("inheritedAttributes.targetConnections[].connectionSpec.id==a,b")
    assert parsed.op == "=="
    assert parsed.values == ("a", "b")
    assert parsed.steps[1] == ("targetConnections", True)
