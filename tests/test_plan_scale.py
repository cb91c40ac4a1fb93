"""A no-op plan of 1,000 dataflows against the served emulator: exit 0, at most 40 Flow
Service requests, and one Audiences request per 100 audience ids checked."""

from __future__ import annotations

from provisioner.emulator import EmulatorApp
from tests.fleet import FLEET_ENV, seed_fleet, write_fleet
from tests.workspace import Workspace


def test_no_op_plan_of_1000_dataflows_takes_at_most_40_requests(
    workspace: Workspace, emulator: EmulatorApp
) -> None:
    manifests = write_fleet(workspace.root / "manifests", 1000)
    seed_fleet(emulator.store, manifests)
    workspace.env.update(FLEET_ENV)
    emulator.requests.clear()
    result = workspace.plan("--detailed-exitcode")
    assert result.code == 0, result.out[-2000:] + result.err
    # 1 profile source, 100 accounts, 1,000 target connections, 1,000 dataflows
    assert "No changes. The platform matches the manifests (2101 unchanged)." in result.out
    # a token, 30 bulk reads checking the 3,000 audience ids (100 each), then 10 pages of
    # flows, 10 of targets (each read per destination type: the fleet is all Kinesis, so
    # one empty page of each for Event Hubs), 2 of connections, 1 of sources
    audience_reads = 30
    assert emulator.requests["total"] - audience_reads <= 40
    assert emulator.requests["total"] == 26 + audience_reads


def test_the_fleet_seed_is_what_apply_makes(workspace: Workspace, emulator: EmulatorApp) -> None:
    """Seeded and applied dataflows are indistinguishable to plan."""
    manifests = write_fleet(workspace.root / "manifests", 4, flows_per_account=2)
    workspace.env.update(FLEET_ENV)
    assert workspace.apply().code == 0
    applied = {f["name"]: f for f in workspace.resources("flows")}
    emulator.store.clear()
    seed_fleet(emulator.store, manifests)
    assert workspace.plan("--detailed-exitcode").code == 0
    seeded = {f["name"]: f for f in workspace.resources("flows")}
    for name, flow in applied.items():
        assert flow["transformations"] == seeded[name]["transformations"]
