"""Strict mode: every documented write works, every other write gets the platform's 400;
the flow action's two documented forms; the documented variants of auth parameters."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner import destinations
from provisioner.emulator import EmulatorApp, EmulatorConfig
from provisioner.emulator import catalog as emulator_catalog
from provisioner.emulator.server import EmulatorTransport
from provisioner.emulator.specs import CONNECTION_SPECS
from provisioner.emulator.strict import DOCUMENTED_WRITES, ActionForm, Write
from provisioner.platform import ids as platform_ids
from tests.emulator_support import (
    Api,
    Chain,
    flow_body,
    kinesis_account,
    segment,
    start_serve_process,
)

SEGMENTS = "/transformations/0/params/segmentSelectors/selectors"
PROFILES = "/transformations/0/params/profileSelectors/selectors"
AUDIENCE = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"
ATTRIBUTE = {"type": "JSON_PATH", "value": {"path": "person.lastName", "operator": "EXISTS"}}
EMULATOR_SOURCES = Path(emulator_catalog.__file__).parent


def strict_api(**config: Any) -> Iterator[Api]:
    app = EmulatorApp(config=EmulatorConfig(**config))
    with httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator") as client:
        yield Api(client)


@pytest.fixture
def api() -> Iterator[Api]:
    """A raw client of an in-process emulator in strict mode."""
    yield from strict_api(strict=True)


@pytest.fixture
def lenient() -> Iterator[Api]:
    yield from strict_api()


def assert_refused(response: httpx.Response, code: str, *words: str) -> None:
    """The platform's 400 shape (RFC 7807-like with the legacy fields), naming `words`."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == f"https://ns.adobe.com/aep/errors/FLOW-{code}-400"
    assert (body["title"], body["status"]) == ("Bad Request", 400)
    assert body["errorMessage"] == body["errorDetails"] == body["report"]["detailed-message"]
    assert body["report"]["request-id"]
    for word in words:
        assert word in body["errorMessage"]


def patch_ok(api: Api, path: str, ops: list[dict[str, Any]]) -> None:
    response = api.patch(path, ops, api.one(path)["etag"])
    assert response.status_code == 200, response.text


# the emulator stands alone ------------------------------------------------------------


# `serve --deliver` writes runs to real Kinesis streams through the tool's destination SDK
# code, never its platform code: that one module may use it.
BRIDGES = {"delivery.py": "provisioner.preflight"}


def test_the_emulator_imports_nothing_from_the_tool() -> None:
    for source in EMULATOR_SOURCES.glob("*.py"):
        bridge = BRIDGES.get(source.name, "provisioner.emulator")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith("provisioner.") or name.startswith(
                    ("provisioner.emulator", bridge)
                ), f"{source.name} imports {name}"


def test_the_emulator_catalog_agrees_with_the_tool() -> None:
    for name in (
        "FLOW_SERVICE_PATH",
        "IMS_TOKEN_PATH",
        "PROFILE_SPEC_ID",
        "DESTINATION_FLOW_SPEC_ID",
        "SPEC_VERSION",
    ):
        assert getattr(emulator_catalog, name) == getattr(platform_ids, name), name
    for kind in destinations.ALL:  # each type's spec and auth spec, as the emulator serves
        spec = CONNECTION_SPECS[kind.spec_id]
        assert kind.auth_spec in [a["name"] for a in spec["authSpec"]], kind.type


def test_every_documented_write_names_its_document() -> None:
    for write in DOCUMENTED_WRITES:
        assert write.method in ("POST", "PATCH", "DELETE")
        assert write.source.strip()
        assert (write.method == "PATCH") == bool(write.patch), write
    assert len({(w.method, w.path, w.patch, w.query) for w in DOCUMENTED_WRITES}) == len(
        DOCUMENTED_WRITES
    )


# documented writes pass --------------------------------------------------------------


def test_the_documented_chain_and_its_updates_pass(api: Api) -> None:
    chain = Chain(api)
    flow = f"/flows/{chain.flow}"
    patch_ok(
        api,
        flow,
        [
            {"op": "add", "path": f"{SEGMENTS}/-", "value": segment(AUDIENCE)},
            {"op": "add", "path": f"{SEGMENTS}/-", "value": segment(AUDIENCE[::-1])},
            {"op": "add", "path": f"{PROFILES}/-", "value": ATTRIBUTE},
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/description", "value": "now described"},
        ],
    )
    patch_ok(
        api,
        flow,
        [
            {"op": "replace", "path": f"{SEGMENTS}/0", "value": segment(AUDIENCE, "Buyers")},
            {"op": "REMOVE", "path": f"{SEGMENTS}/1", "value": {}},  # OAS-S spells ops in capitals
            {"op": "remove", "path": f"{PROFILES}/0", "value": {}},
        ],
    )
    account = f"/connections/{chain.account}"
    rotated = {"accessKeyId": "AKIA2", "secretKey": "new", "region": "us-east-1"}
    patch_ok(api, account, [{"op": "replace", "path": "/auth/params", "value": rotated}])
    patch_ok(api, account, [{"op": "add", "path": "/description", "value": "marked"}])
    patch_ok(api, account, [{"op": "replace", "path": "/name", "value": "account 2"}])
    target = f"/targetConnections/{chain.target}"
    params = {"stream": "other", "region": "us-east-1"}
    patch_ok(api, target, [{"op": "replace", "path": "/params", "value": params}])
    patch_ok(api, target, [{"op": "add", "path": "/params/stream", "value": "third"}])
    assert api.post(f"{flow}/action", params={"op": "disable"}).status_code == 200
    assert api.one(flow)["state"] == "disabled"
    for path in (
        flow,
        f"/targetConnections/{chain.target}",
        f"/sourceConnections/{chain.source}",
        account,
        f"/connections/{chain.profile}",
    ):
        assert api.delete(path).status_code == 202


# undocumented writes are refused -----------------------------------------------------


def _op(op: str, path: str, value: Any = "x") -> list[dict[str, Any]]:
    return [{"op": op, "path": path, "value": value}]


UNDOCUMENTED_PATCHES = [
    ("targetConnections", _op("replace", "/description", "digest"), "'replace /description'"),
    ("targetConnections", _op("replace", "/name"), "'replace /name'"),
    ("connections", _op("replace", "/description"), "'replace /description'"),
    ("flows", _op("replace", "/state", "disabled"), "'replace /state'"),
    ("flows", _op("replace", f"{PROFILES}/0", {}), f"'replace {PROFILES}/0'"),
    ("flows", _op("add", f"{SEGMENTS}/01", {}), f"'add {SEGMENTS}/01'"),
    ("flows", [{"op": "remove", "path": f"{SEGMENTS}/0"}], 'Missing field "value"'),
    # flow-service.yaml has patchSourceConnection, but no document shows any of its ops
    ("sourceConnections", _op("add", "/description"), "PATCH /sourceConnections/{id}"),
]


@pytest.mark.parametrize(("kind", "ops", "named"), UNDOCUMENTED_PATCHES)
def test_an_undocumented_patch_is_refused_and_changes_nothing(
    api: Api, kind: str, ops: list[dict[str, Any]], named: str
) -> None:
    code = "1400" if kind == "sourceConnections" else "1455"
    chain = Chain(api)
    api_id = {
        "flows": chain.flow,
        "connections": chain.account,
        "sourceConnections": chain.source,
        "targetConnections": chain.target,
    }[kind]
    if kind == "flows":  # something to remove or replace
        patch_ok(api, f"/flows/{api_id}", _op("add", f"{SEGMENTS}/-", segment(AUDIENCE)))
    before = api.one(f"/{kind}/{api_id}")
    response = api.patch(f"/{kind}/{api_id}", ops, before["etag"])
    assert_refused(response, code, named)
    assert api.one(f"/{kind}/{api_id}") == before


def test_the_target_description_patch_passes_in_lenient_mode_only(lenient: Api) -> None:
    target = f"/targetConnections/{Chain(lenient).target}"
    patch_ok(lenient, target, _op("add", "/description", "digest"))


def test_a_write_that_no_document_shows_is_refused(api: Api) -> None:
    chain = Chain(api)
    flow = f"/flows/{chain.flow}"
    etag = api.one(flow)["etag"]
    ops = _op("replace", "/name", "renamed")
    refused = [
        # the Postman collection's if-match in the query string
        (api.request("PATCH", flow, json=ops, params={"if-match": etag}), "if-match"),
        (api.request("PUT", flow, json={"name": "x"}), "PUT /flows/{id}"),
        (api.post(f"/connections/{chain.account}/action", params={"op": "disable"}), "action"),
        (api.post("/flows", json=flow_body(chain.source, chain.target), params={"x": "1"}), "x"),
        (api.post(f"{flow}/action", params={"op": "disable", "force": "true"}), "force"),
    ]
    for response, named in refused:
        assert_refused(response, "1400", named)
    assert api.one(flow)["etag"] == etag


def test_a_dataflow_without_transformations_is_refused(api: Api, lenient: Api) -> None:
    for client in (api, lenient):
        chain = Chain(client)
        body = flow_body(chain.source, chain.target, "bare")
        del body["transformations"]
        response = client.post("/flows", json=body)
        if client is api:
            assert_refused(response, "1400", "transformations")
        else:
            assert response.status_code == 201


def test_a_target_connection_without_data_is_refused(api: Api) -> None:
    account = api.created("/connections", kinesis_account())
    body = {
        "name": "t",
        "baseConnectionId": account,
        "connectionSpec": {"id": emulator_catalog.KINESIS_SPEC_ID, "version": "1.0"},
        "params": {"stream": "s", "region": "us-east-1"},
    }
    assert_refused(api.post("/targetConnections", json=body), "1400", "data")


def test_also_accepted_writes_widen_strict_mode() -> None:
    tolerated = Write("PATCH", "/targetConnections/{id}", "test", patch="add|replace /description")
    for widened in strict_api(strict=True, also_accept=(tolerated,)):
        target = f"/targetConnections/{Chain(widened).target}"
        patch_ok(widened, target, _op("add", "/description", "digest"))
        patch_ok(widened, target, _op("replace", "/description", "digest 2"))
        response = widened.patch(target, _op("replace", "/name"), widened.one(target)["etag"])
        assert_refused(response, "1455", "replace /name")


# the flow action's two forms ---------------------------------------------------------


DESTINATIONS_FORM = {"op": "disable"}
SOURCES_FORM = {"op": "DISABLE", "subOp": "APPLY"}


@pytest.mark.parametrize(
    ("strict", "form", "query", "accepted"),
    [
        (True, "both", DESTINATIONS_FORM, True),
        (True, "both", SOURCES_FORM, True),
        (True, "both", {"op": "DISABLE"}, False),  # the Sources form requires subOp
        (True, "both", {"op": "disable", "subOp": "APPLY"}, False),  # neither form
        (True, "both", {"op": "DISABLE", "subOp": "LATER"}, False),
        (True, "destinations", SOURCES_FORM, False),
        (True, "sources", DESTINATIONS_FORM, False),
        (True, "sources", {"op": "DISABLE", "subOp": "APPLY,PROGRESS"}, True),
        (False, "both", {"op": "Disable"}, True),  # lenient: any case, subOp ignored
        (False, "destinations", DESTINATIONS_FORM, True),
        (False, "destinations", SOURCES_FORM, False),
        (False, "sources", DESTINATIONS_FORM, False),
        (False, "sources", SOURCES_FORM, True),
    ],
)
def test_the_flow_action_forms(
    strict: bool, form: ActionForm, query: dict[str, str], accepted: bool
) -> None:
    for api in strict_api(strict=strict, action_form=form):
        flow = f"/flows/{Chain(api).flow}"
        response = api.post(f"{flow}/action", params=query)
        if accepted:
            assert response.status_code == 200, response.text
            assert set(response.json()) == {"id", "etag"}
            assert api.one(flow)["state"] == "disabled"
        else:
            assert_refused(response, "1400", "op", "subOp")
            assert api.one(flow)["state"] == "enabled"


def test_a_client_can_fall_back_from_the_destinations_form() -> None:
    for api in strict_api(strict=True, action_form="sources"):
        flow = f"/flows/{Chain(api).flow}"
        first = api.post(f"{flow}/action", params=DESTINATIONS_FORM)
        message = first.json()["errorMessage"]
        assert_refused(first, "1400")
        assert "op=ENABLE|DISABLE" in message and "subOp=APPLY" in message
        assert api.post(f"{flow}/action", params=SOURCES_FORM).status_code == 200
        enable = api.post(f"{flow}/action", params={"op": "ENABLE", "subOp": "APPLY"})
        assert enable.status_code == 200
        assert api.one(flow)["state"] == "enabled"


# documented variants of auth parameters ----------------------------------------------


def _account(spec_id: str, spec_name: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "variant",
        "connectionSpec": {"id": spec_id, "version": "1.0"},
        "auth": {"specName": spec_name, "params": params},
    }


KINESIS = (emulator_catalog.KINESIS_SPEC_ID, emulator_catalog.KINESIS_AUTH_SPEC)
EVENT_HUBS = (emulator_catalog.EVENT_HUBS_SPEC_ID, emulator_catalog.EVENT_HUBS_AUTH_SPEC)
AAD = (emulator_catalog.EVENT_HUBS_SPEC_ID, emulator_catalog.EVENT_HUBS_AAD_AUTH_SPEC)
SCOPED_AAD = (
    emulator_catalog.EVENT_HUBS_SPEC_ID,
    emulator_catalog.EVENT_HUBS_SCOPED_AAD_AUTH_SPEC,
)
SECRET = "variant-canary-4d2a"


@pytest.mark.parametrize(
    ("spec", "params", "secret_key"),
    [
        (KINESIS, {"accessKeyId": "A", "secretKey": SECRET, "region": "us-east-1"}, "secretKey"),
        (
            KINESIS,
            {"accessKeyId": "A", "secretKey": SECRET, "connectionUrl": "https://k.example"},
            "secretKey",
        ),
        (EVENT_HUBS, {"sasKeyName": "p", "sasKey": SECRET, "namespace": "ns"}, "sasKey"),
        (
            EVENT_HUBS,
            {"sasKeyName": "p", "sasKey": SECRET, "namespace": "ns", "eventHubName": "hub"},
            "sasKey",
        ),
        (
            AAD,
            {"tenantId": "t", "clientId": "c", "clientSecretValue": SECRET, "namespace": "ns"},
            "clientSecretValue",
        ),
        (
            SCOPED_AAD,
            {
                "tenantId": "t",
                "clientId": "c",
                "clientSecretValue": SECRET,
                "namespace": "ns",
                "eventHubName": "hub",
            },
            "clientSecretValue",
        ),
    ],
)
def test_documented_auth_variants_are_accepted_and_masked(
    api: Api, spec: tuple[str, str], params: dict[str, str], secret_key: str
) -> None:
    account = api.created("/connections", _account(*spec, params))
    read = api.get(f"/connections/{account}")
    assert SECRET not in read.text
    shown = read.json()["items"][0]["auth"]["params"]
    assert shown == params | {secret_key: "xxxx"}


def test_kinesis_needs_region_or_connection_url(api: Api) -> None:
    body = _account(*KINESIS, {"accessKeyId": "A", "secretKey": "s"})
    response = api.post("/connections", json=body)
    assert response.status_code == 400
    assert "region or connectionUrl" in response.json()["errorMessage"]


# served --------------------------------------------------------------------------------


def test_serve_strict_with_the_sources_action_form(tmp_path: Path) -> None:
    process, url = start_serve_process(
        "--db", ":memory:", "--strict", "--action-form", "sources", cwd=tmp_path
    )
    try:
        with httpx.Client(base_url=url) as client:
            api = Api(client)
            chain = Chain(api)
            target = f"/targetConnections/{chain.target}"
            described = api.patch(target, _op("replace", "/description", "d"), '"any"')
            assert_refused(described, "1455", "not a documented patch")
            destinations = api.post(f"/flows/{chain.flow}/action", params=DESTINATIONS_FORM)
            assert_refused(destinations, "1400", "op", "subOp")
            sources = api.post(f"/flows/{chain.flow}/action", params=SOURCES_FORM)
            assert sources.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
