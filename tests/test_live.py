"""Reading the live platform costs requests in proportion to N/100, not N."""

from __future__ import annotations

from provisioner.connect import connect
from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.server import EmulatorTransport
from provisioner.platform.target import Target
from provisioner.state.live import read_live
from tests.emulator_support import seed_destinations


def test_reading_1000_dataflows_with_their_connections_takes_at_most_40_requests(
    emulator: EmulatorApp,
) -> None:
    flows = seed_destinations(emulator.store, 1000)
    target = Target("emulator", ":memory:", DEFAULT_ORG, "prod", client_id=DEFAULT_CLIENT_ID)
    with connect(target, EmulatorTransport(emulator)) as client:
        live = read_live(client)
        used = client.request_count
    assert sorted(live.flows) == sorted(flows)
    assert len(live.targets) == 1000 and len(live.sources) == 1
    assert len(live.connections) == 1001  # 1,000 accounts and the profile base connection
    for flow in live.flows.values():
        target_id = flow["targetConnectionIds"][0]
        assert live.targets[target_id]["baseConnectionId"] in live.connections
    # 1 token + 10 pages of flows + 10 of targets + 1 of sources + 11 of connections, and
    # (flows and targets being read per destination type) an empty page of each for Event Hubs
    assert used == 35


def test_other_kinds_of_flows_are_not_read(emulator: EmulatorApp) -> None:
    seed_destinations(emulator.store, 2)
    target = Target("emulator", ":memory:", DEFAULT_ORG, "dev", client_id=DEFAULT_CLIENT_ID)
    with connect(target, EmulatorTransport(emulator)) as client:
        assert read_live(client).flows == {}  # another sandbox
