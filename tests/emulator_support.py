"""Helpers for tests that talk to the emulator directly, as a raw HTTP client would."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from provisioner.emulator.app import EmulatorConfig
from provisioner.emulator.catalog import KINESIS_AUTH_SPEC, KINESIS_SPEC_ID
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.resources import Caller, Resources
from provisioner.emulator.store import Store
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, FLOW_SERVICE_PATH, PROFILE_SPEC_ID
from provisioner.platform.target import Target

# The sandboxes the tests' emulated organisation has besides prod: the environments of the
# tests' project files and the other sandboxes scenarios use. Any other name is unknown.
TEST_SANDBOXES = frozenset({"dev", "stage"})


def emulator_config(**settings: Any) -> EmulatorConfig:
    """An emulator configuration for tests: `settings`, and the tests' sandboxes."""
    return EmulatorConfig(sandboxes=TEST_SANDBOXES, **settings)


def get_token(client: httpx.Client, secret: str = DEFAULT_CLIENT_SECRET) -> httpx.Response:
    form = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "scope": "openid,AdobeID",
    }
    return client.post("/ims/token/v3", data=form)


class Api:
    """An authenticated raw client of the emulator's Flow Service."""

    def __init__(self, client: httpx.Client, sandbox: str = "prod") -> None:
        self.client = client
        token = get_token(client).json()["access_token"]
        self.headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": DEFAULT_CLIENT_ID,
            "x-gw-ims-org-id": DEFAULT_ORG,
            "x-sandbox-name": sandbox,
        }

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A Flow Service path (`/flows`), or a whole one (`/emulator/…`, `/data/…`)."""
        absolute = path.startswith(("/emulator/", "/data/"))
        url = path if absolute else FLOW_SERVICE_PATH + path
        merged = {**self.headers, **(headers or {})}
        return self.client.request(method, url, headers=merged, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(
        self, path: str, ops: list[dict[str, Any]], etag: str | None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"If-Match": etag} if etag is not None else {}
        return self.request("PATCH", path, json=ops, headers=headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def one(self, path: str) -> dict[str, Any]:
        response = self.get(path)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        assert len(items) == 1
        return items[0]

    def created(self, path: str, body: dict[str, Any]) -> str:
        response = self.post(path, json=body)
        assert response.status_code == 201, response.text
        assert set(response.json()) == {"id", "etag"}
        return str(response.json()["id"])


ADMIN_AUTH = httpx.BasicAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
"""The emulator's own credentials, which its /emulator/ endpoints need (a bearer token from
its IMS works too: `Api` sends one)."""


def kinesis_account(secret: str = "S3CRET", name: str = "kinesis account") -> dict[str, Any]:
    return {
        "name": name,
        "connectionSpec": {"id": KINESIS_SPEC_ID, "version": "1.0"},
        "auth": {
            "specName": KINESIS_AUTH_SPEC,
            "params": {"accessKeyId": "AKIA", "secretKey": secret, "region": "us-east-1"},
        },
    }


def profile_base() -> dict[str, Any]:
    return {"name": "profile", "connectionSpec": {"id": PROFILE_SPEC_ID, "version": "1.0"}}


def profile_source(base_id: str) -> dict[str, Any]:
    return {
        "name": "profile source",
        "baseConnectionId": base_id,
        "connectionSpec": {"id": PROFILE_SPEC_ID, "version": "1.0"},
        "data": {"format": "json"},
        "params": {},
    }


def kinesis_target(base_id: str, stream: str = "orders") -> dict[str, Any]:
    return {
        "name": "kinesis target",
        "baseConnectionId": base_id,
        "connectionSpec": {"id": KINESIS_SPEC_ID, "version": "1.0"},
        "data": {"format": "json"},
        "params": {"stream": stream, "region": "us-east-1"},
    }


def flow_body(source_id: str, target_id: str, name: str = "flow") -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "flowSpec": {"id": DESTINATION_FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "profileSelectors": {"selectors": []},
                    "segmentSelectors": {"selectors": []},
                },
            }
        ],
    }


def segment(audience_id: str, name: str = "") -> dict[str, Any]:
    return {
        "type": "PLATFORM_SEGMENT",
        "value": {"id": audience_id, "name": name, "description": ""},
    }


class Chain:
    """A whole destination chain: profile base and source, account, target, flow."""

    def __init__(self, api: Api, flow_name: str = "flow") -> None:
        self.profile = api.created("/connections", profile_base())
        self.source = api.created("/sourceConnections", profile_source(self.profile))
        self.account = api.created("/connections", kinesis_account())
        self.target = api.created("/targetConnections", kinesis_target(self.account))
        self.flow = api.created("/flows", flow_body(self.source, self.target, flow_name))


def seed_destinations(
    store: Store, count: int, sandbox: str = "prod", flows_per_account: int = 1
) -> list[str]:
    """`count` whole destination chains written straight to a store; returns the flow ids."""
    resources = Resources(store)
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, sandbox)
    profile = resources.create("connections", caller, profile_base())["id"]
    source = resources.create("sourceConnections", caller, profile_source(profile))["id"]
    flows, account = [], ""
    for i in range(count):
        if i % flows_per_account == 0:
            account = resources.create(
                "connections", caller, kinesis_account(name=f"account-{i:04d}")
            )["id"]
        target = resources.create(
            "targetConnections", caller, kinesis_target(account, f"stream-{i:04d}")
        )["id"]
        body = flow_body(source, target, f"flow-{i:04d}")
        body["transformations"][0]["params"]["segmentSelectors"]["selectors"] = [
            segment(str(uuid.uuid5(uuid.NAMESPACE_URL, f"audience-{i}-{j}"))) for j in range(3)
        ]
        flows.append(resources.create("flows", caller, body)["id"])
    return flows


def platform_target(url: str, secret: str = DEFAULT_CLIENT_SECRET) -> Target:
    """A platform target for an emulator served at `url` (it is its own IMS too)."""
    return Target(
        "platform",
        url,
        DEFAULT_ORG,
        "prod",
        ims_url=url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=secret,
    )


def start_serve_process(
    *options: str, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    """`provisioner emulator serve --port 0 OPTIONS` as a process; returns it and its URL
    once it answers."""
    command = [sys.executable, "-m", "provisioner", "emulator", "serve", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)
    assert process.stdout is not None
    url = process.stdout.readline().split("serving on ")[1].split()[0]
    while httpx.get(f"{url}/emulator/health").status_code != 200:
        time.sleep(0.01)
    return process, url
