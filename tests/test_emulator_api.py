"""The emulator's Flow Service behaviour, each test in-process and over loopback HTTP."""

from __future__ import annotations

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.catalog import EVENT_HUBS_SPEC_ID, KINESIS_SPEC_ID
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.platform.ids import (
    FLOW_SERVICE_PATH,
    PROFILE_SELECTORS,
    PROFILE_SPEC_ID,
    SEGMENT_SELECTORS,
)
from tests.emulator_support import (
    Api,
    Chain,
    flow_body,
    get_token,
    kinesis_account,
    kinesis_target,
    segment,
)

CANARY = "canary-secret-b81c4e"


def error_code(response: httpx.Response) -> str:
    body = response.json()
    if "error_code" in body:
        return str(body["error_code"])
    return str(body["type"]).rsplit("FLOW-", 1)[1].split("-")[0]


# IMS and the gateway ----------------------------------------------------------------


def test_token_is_issued_with_seconds_ttl(client: httpx.Client) -> None:
    body = get_token(client).json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert body["access_token"]


def test_wrong_secret_and_unknown_client_are_refused(client: httpx.Client) -> None:
    assert get_token(client, secret="wrong").status_code == 401
    form = {"client_id": "nobody", "client_secret": "x", "grant_type": "client_credentials"}
    response = client.post("/ims/token/v3", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
    form = {"client_id": DEFAULT_CLIENT_ID, "client_secret": "x", "grant_type": "password"}
    assert client.post("/ims/token/v3", data=form).json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("drop", "replace", "status", "code"),
    [
        ("Authorization", {}, 403, "403010"),
        ("", {"Authorization": "Bearer forged"}, 401, "401013"),
        ("x-api-key", {}, 403, "403000"),
        ("", {"x-api-key": "someone-else"}, 403, "403003"),
        ("x-gw-ims-org-id", {}, 400, "400003"),
        ("", {"x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, "403025"),
    ],
)
def test_gateway_header_errors(
    api: Api, drop: str, replace: dict[str, str], status: int, code: str
) -> None:
    headers = {k: v for k, v in api.headers.items() if k != drop} | replace
    response = api.client.get(FLOW_SERVICE_PATH + "/flows", headers=headers)
    assert response.status_code == status
    assert response.json() == {"error_code": code, "message": response.json()["message"]}
    assert error_code(response) == code


def test_expired_token_is_refused(emulator: EmulatorApp, api: Api) -> None:
    emulator.config.token_ttl = -1
    stale = Api(api.client)
    assert stale.get("/flows").status_code == 401
    assert api.get("/flows").status_code == 200


def test_sandboxes_are_isolated(api: Api) -> None:
    flow = Chain(api).flow
    dev = Api(api.client, sandbox="dev")
    assert dev.get(f"/flows/{flow}").status_code == 404
    assert dev.get("/flows").json()["items"] == []
    assert api.one(f"/flows/{flow}")["sandboxName"] == "prod"


def test_missing_sandbox_header_means_prod_or_an_error(emulator: EmulatorApp, api: Api) -> None:
    flow = Chain(api).flow
    headers = {k: v for k, v in api.headers.items() if k != "x-sandbox-name"}
    url = f"{FLOW_SERVICE_PATH}/flows/{flow}"
    assert api.client.get(url, headers=headers).status_code == 200
    emulator.config.missing_sandbox = "error"
    response = api.client.get(url, headers=headers)
    assert (response.status_code, error_code(response)) == (400, "2105")


def test_an_unknown_sandbox_is_500_or_as_documented_404(emulator: EmulatorApp, api: Api) -> None:
    response = Api(api.client, sandbox="prdo").get("/flows")
    assert (response.status_code, error_code(response)) == (500, "2100")
    emulator.config.unknown_sandbox_status = 404
    response = Api(api.client, sandbox="prdo").get("/flows")
    assert (response.status_code, error_code(response)) == (404, "2100")
    assert "The sandbox with the name 'prdo' could not be found" in response.text


# specs ------------------------------------------------------------------------------


def test_connection_specs_list_and_filter(api: Api) -> None:
    ids = {spec["id"] for spec in api.get("/connectionSpecs").json()["items"]}
    assert ids == {KINESIS_SPEC_ID, EVENT_HUBS_SPEC_ID, PROFILE_SPEC_ID}
    found = api.get("/connectionSpecs", params={"property": "name==Amazon Kinesis"})
    assert [s["id"] for s in found.json()["items"]] == [KINESIS_SPEC_ID]
    spec = api.one(f"/connectionSpecs/{KINESIS_SPEC_ID}")
    secret = spec["authSpec"][0]["spec"]["properties"]["secretKey"]
    assert secret["format"] == "password"


# creates ----------------------------------------------------------------------------


def test_create_returns_201_id_and_etag_and_server_fields(api: Api) -> None:
    chain = Chain(api)
    flow = api.one(f"/flows/{chain.flow}")
    assert flow["state"] == "enabled"
    assert flow["etag"] == flow["version"]
    assert flow["etag"].startswith('"') and flow["etag"].endswith('"')
    assert flow["createdAt"] > 10**12 and flow["updatedAt"] >= flow["createdAt"]  # milliseconds
    assert flow["createdBy"] == f"{DEFAULT_CLIENT_ID}@AdobeID"
    assert (flow["imsOrgId"], flow["sandboxName"]) == (DEFAULT_ORG, "prod")
    inherited = flow["inheritedAttributes"]
    assert inherited["properties"] == {"isDestinationFlow": True}
    target = inherited["targetConnections"][0]
    assert target["id"] == chain.target and target["baseConnection"]["id"] == chain.account
    assert inherited["sourceConnections"][0]["typeInfo"] == {
        "type": "ProfileFragments",
        "id": "ups",
    }
    assert flow["lastOperation"]["operation"] == "create"
    assert flow["runs"] == f"/runs?property=flowId=={chain.flow}"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**kinesis_account(), "state": "enabled"}, 400, "1410"),
        ({**kinesis_account(), "connectionSpec": {"id": "nope", "version": "1.0"}}, 400, "1413"),
        ({**kinesis_account(), "connectionSpec": {"id": KINESIS_SPEC_ID}}, 422, "1413"),
        ({**kinesis_account(), "auth": {"specName": "Basic", "params": {}}}, 400, "1415"),
        ({}, 400, "1405"),
    ],
    ids=["state", "unknown-spec", "no-version", "wrong-auth-spec", "empty"],
)
def test_create_guards(api: Api, body: dict[str, object], status: int, code: str) -> None:
    response = api.post("/connections", json=body)
    assert (response.status_code, error_code(response)) == (status, code)


def test_missing_auth_param_is_refused(api: Api) -> None:
    body = kinesis_account()
    del body["auth"]["params"]["secretKey"]
    response = api.post("/connections", json=body)
    assert response.status_code == 400
    assert "secretKey" in response.json()["errorMessage"]


def test_flow_naming_unknown_connections_is_refused(api: Api) -> None:
    chain = Chain(api)
    response = api.post("/flows", json=flow_body(chain.source, "0000-missing"))
    assert response.status_code == 400
    assert "0000-missing" in response.json()["errorMessage"]


def test_target_needs_an_existing_base_of_the_same_spec(api: Api) -> None:
    assert api.post("/targetConnections", json=kinesis_target("missing")).status_code == 400
    account = api.created("/connections", kinesis_account())
    body = kinesis_target(account) | {
        "connectionSpec": {"id": EVENT_HUBS_SPEC_ID, "version": "1.0"}
    }
    assert api.post("/targetConnections", json=body).status_code == 400
    no_stream = kinesis_target(account) | {"params": {"region": "us-east-1"}}
    assert api.post("/targetConnections", json=no_stream).status_code == 400


def test_body_without_content_type_is_refused(api: Api) -> None:
    response = api.post("/connections", content=b'{"name": "x"}', headers={"Content-Type": ""})
    assert response.status_code == 400
    assert response.json()["detail"] == "A valid content-type must be specified"


# reads and secrets ------------------------------------------------------------------


def test_not_found_bodies(api: Api) -> None:
    response = api.get("/flows/does-not-exist")
    assert (response.status_code, error_code(response)) == (404, "1439")
    assert response.json()["report"]["id"] == "does-not-exist"
    response = api.get("/connections/does-not-exist")
    assert (response.status_code, error_code(response)) == (404, "1101")


def test_secrets_never_come_back(api: Api) -> None:
    account = api.created("/connections", kinesis_account(secret=CANARY))
    read = api.get(f"/connections/{account}")
    listed = api.get("/connections")
    filtered = api.get("/connections", params={"property": f"id=={account}"})
    for response in (read, listed, filtered):
        assert CANARY not in response.text
    params = read.json()["items"][0]["auth"]["params"]
    assert params == {"accessKeyId": "AKIA", "secretKey": "xxxx", "region": "us-east-1"}


# PATCH ------------------------------------------------------------------------------


def test_patch_needs_if_match(api: Api) -> None:
    flow = Chain(api).flow
    ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    response = api.patch(f"/flows/{flow}", ops, etag=None)
    assert (response.status_code, error_code(response)) == (400, "1403")
    response = api.patch(f"/flows/{flow}", ops, etag='"stale"')
    assert (response.status_code, error_code(response)) == (412, "1404")
    etag = api.one(f"/flows/{flow}")["etag"]
    unquoted = api.patch(f"/flows/{flow}", ops, etag=etag.strip('"'))
    assert unquoted.status_code == 412
    assert api.one(f"/flows/{flow}")["name"] == "flow"


def test_patch_changes_the_etag_and_answers_200_with_it(api: Api) -> None:
    flow = Chain(api).flow
    before = api.one(f"/flows/{flow}")["etag"]
    response = api.patch(
        f"/flows/{flow}", [{"op": "replace", "path": "/name", "value": "renamed"}], before
    )
    assert response.status_code == 200
    after = api.one(f"/flows/{flow}")
    assert response.json() == {"id": flow, "etag": after["etag"]}
    assert after["etag"] != before and after["name"] == "renamed"
    assert (
        api.patch(
            f"/flows/{flow}", [{"op": "replace", "path": "/name", "value": "x"}], before
        ).status_code
        == 412
    )


def test_patch_202_variant_has_no_body(emulator: EmulatorApp, api: Api) -> None:
    emulator.config.patch_status = 202
    flow = Chain(api).flow
    etag = api.one(f"/flows/{flow}")["etag"]
    response = api.patch(
        f"/flows/{flow}", [{"op": "add", "path": "/description", "value": "d"}], etag
    )
    assert (response.status_code, response.content) == (202, b"")
    assert api.one(f"/flows/{flow}")["description"] == "d"


def test_patch_ops_apply_in_order(api: Api) -> None:
    flow = Chain(api).flow
    ids = ["a0", "a1", "a2", "a3"]
    etag = api.one(f"/flows/{flow}")["etag"]
    adds = [{"op": "ADD", "path": f"{SEGMENT_SELECTORS}/-", "value": segment(i)} for i in ids]
    adds.append(
        {
            "op": "add",
            "path": f"{PROFILE_SELECTORS}/-",
            "value": {"type": "JSON_PATH", "value": {"path": "person.lastName"}},
        }
    )
    assert api.patch(f"/flows/{flow}", adds, etag).status_code == 200
    etag = api.one(f"/flows/{flow}")["etag"]
    # Sequential RFC 6902: removing index 0 twice removes a0, then a1.
    placeholder = {"type": "PLATFORM_SEGMENT", "value": {}}
    removes = [{"op": "remove", "path": f"{SEGMENT_SELECTORS}/0", "value": placeholder}] * 2
    assert api.patch(f"/flows/{flow}", removes, etag).status_code == 200
    live = api.one(f"/flows/{flow}")
    selectors = live["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    assert [s["value"]["id"] for s in selectors] == ["a2", "a3"]
    assert live["lastOperation"]["ops"] == removes


@pytest.mark.parametrize(
    ("ops", "status", "code"),
    [
        ([{"op": "move", "from": "/name", "path": "/description"}], 400, "1434"),
        ([{"op": "replace", "path": "/nothing/here", "value": 1}], 400, "1455"),
        ([{"op": "remove", "path": f"{SEGMENT_SELECTORS}/5"}], 400, "1455"),
        ([{"op": "replace", "path": "/flowSpec", "value": {}}], 400, "1414"),
        ([{"op": "replace", "path": "/state", "value": "disabled"}], 400, "1455"),
        ([{"op": "add", "path": f"{SEGMENT_SELECTORS}/-", "value": {"type": "X"}}], 400, "1455"),
        ([], 400, "1405"),
    ],
    ids=[
        "move",
        "missing-path",
        "index-out-of-range",
        "flow-spec",
        "state",
        "bad-selector",
        "empty",
    ],
)
def test_patch_guards(api: Api, ops: list[dict[str, object]], status: int, code: str) -> None:
    flow = Chain(api).flow
    etag = api.one(f"/flows/{flow}")["etag"]
    response = api.patch(f"/flows/{flow}", ops, etag)
    assert (response.status_code, error_code(response)) == (status, code)
    assert api.one(f"/flows/{flow}")["etag"] == etag


def test_connection_spec_is_immutable_and_credentials_rotate(api: Api) -> None:
    account = api.created("/connections", kinesis_account())
    etag = api.one(f"/connections/{account}")["etag"]
    ops = [{"op": "replace", "path": "/connectionSpec/id", "value": EVENT_HUBS_SPEC_ID}]
    response = api.patch(f"/connections/{account}", ops, etag)
    assert (response.status_code, error_code(response)) == (400, "1414")
    rotate = [
        {
            "op": "replace",
            "path": "/auth/params",
            "value": {"accessKeyId": "AKIA2", "secretKey": CANARY, "region": "us-east-1"},
        }
    ]
    response = api.patch(f"/connections/{account}", rotate, etag)
    assert response.status_code == 200 and CANARY not in response.text
    assert api.one(f"/connections/{account}")["auth"]["params"]["accessKeyId"] == "AKIA2"


# DELETE -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [202, 204])
def test_delete_variants_and_guards(emulator: EmulatorApp, api: Api, status: int) -> None:
    emulator.config.delete_status = 202 if status == 202 else 204
    chain = Chain(api)
    in_use = api.delete(f"/connections/{chain.account}")
    assert (in_use.status_code, error_code(in_use)) == (400, "1418")
    in_flow = api.delete(f"/targetConnections/{chain.target}")
    assert (in_flow.status_code, error_code(in_flow)) == (400, "1447")
    for path in (
        f"/flows/{chain.flow}",
        f"/targetConnections/{chain.target}",
        f"/connections/{chain.account}",
    ):
        response = api.delete(path)
        assert (response.status_code, response.content) == (status, b"")
        assert api.get(path).status_code == 404


# flow actions -----------------------------------------------------------------------


def test_enable_and_disable(api: Api) -> None:
    flow = Chain(api).flow
    before = api.one(f"/flows/{flow}")["etag"]
    response = api.post(f"/flows/{flow}/action", params={"op": "disable"})
    assert response.status_code == 200
    live = api.one(f"/flows/{flow}")
    assert live["state"] == "disabled" and live["etag"] != before
    assert response.json() == {"id": flow, "etag": live["etag"]}
    again = api.post(f"/flows/{flow}/action", params={"op": "DISABLE"})
    assert (again.status_code, error_code(again)) == (400, "1420")
    stale = api.post(f"/flows/{flow}/action", params={"op": "enable"}, headers={"If-Match": before})
    assert stale.status_code == 412
    assert api.post(f"/flows/{flow}/action", params={"op": "publish"}).status_code == 400
    assert api.post(f"/flows/{flow}/action", params={"op": "enable"}).status_code == 200
    assert api.one(f"/flows/{flow}")["state"] == "enabled"
