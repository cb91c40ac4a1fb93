"""Conformance: Adobe's community client `aepp`, unmodified, against the served emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, SEGMENT_SELECTORS
from tests.emulator_support import (
    flow_body,
    kinesis_account,
    kinesis_target,
    profile_source,
    segment,
)

aepp = pytest.importorskip("aepp")
flowservice = pytest.importorskip("aepp.flowservice")


@pytest.fixture
def flow_service(served: str) -> Iterator[Any]:
    """aepp configured the way its own docs describe, then pointed at the emulator."""
    saved_global = aepp.config.endpoints["global"]
    aepp.configure(
        org_id=DEFAULT_ORG,
        client_id=DEFAULT_CLIENT_ID,
        secret=DEFAULT_CLIENT_SECRET,
        scopes="openid,AdobeID",
        sandbox="prod",
    )
    aepp.config.endpoints["global"] = served
    aepp.config.config_object["oauthTokenEndpointV2"] = f"{served}/ims/token/v3"
    try:
        yield flowservice.FlowService()
    finally:
        aepp.config.endpoints["global"] = saved_global


def test_aepp_builds_reads_patches_pages_and_deletes(
    flow_service: Any, emulator: EmulatorApp
) -> None:
    fs = flow_service
    specs = {s["name"] for s in fs.getConnectionSpecs()}
    assert {"Amazon Kinesis", "Azure Event Hubs", "Profile Service"} <= specs

    profile = fs.createConnectionToUPS("profile")
    source = fs.createSourceConnection(data=profile_source(profile["id"]))
    account = fs.createConnection(data=kinesis_account(secret="aepp-canary"))
    target = fs.createTargetConnection(data=kinesis_target(account["id"]))
    flow = fs.createFlow(
        flow_spec_id=DESTINATION_FLOW_SPEC_ID,
        obj=flow_body(source["id"], target["id"], "aepp-flow"),
    )
    assert fs.getConnection(account["id"])["auth"]["params"]["secretKey"] == "xxxx"
    assert fs.getTargetConnection(target["id"])["params"]["stream"] == "orders"

    live = fs.getFlow(flow["id"])
    assert live["name"] == "aepp-flow"
    ops = [{"op": "add", "path": f"{SEGMENT_SELECTORS}/-", "value": segment("aud-1", "A")}]
    patched = fs.updateFlow(flow["id"], live["etag"], ops)
    assert patched["etag"] != live["etag"]
    selectors = fs.getFlow(flow["id"])["transformations"][0]["params"]["segmentSelectors"]
    assert [s["value"]["id"] for s in selectors["selectors"]] == ["aud-1"]
    assert fs.postFlowAction(flow["id"], "disable")["id"] == flow["id"]

    for i in range(249):
        fs.createFlow(
            flow_spec_id=DESTINATION_FLOW_SPEC_ID,
            obj=flow_body(source["id"], target["id"], f"bulk-{i}"),
        )
    flows = fs.getFlows(n_results="inf")
    assert len(flows) == 250 and len({f["id"] for f in flows}) == 250
    assert len(fs.getTargetConnections()) == 1

    assert fs.deleteFlow(flow["id"]) == 202
    assert fs.getFlow(flow["id"]) == {}
    assert "aepp-canary" not in str(fs.getConnections())
