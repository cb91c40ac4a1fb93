"""A fleet of N managed dataflows, for scale tests and benchmarks.

`write_fleet` writes N manifests; `seed_fleet` writes into an emulator store exactly what
`apply` would have made for them (markers, fingerprints, activated selectors, the recorded
digest), using the tool's own functions, so that a plan of the fleet has nothing to do.
Applying 1,000 dataflows through the API would take minutes; this takes seconds.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from provisioner.apply.requests import (
    account_body,
    applied_marker,
    flow_body,
    profile_base_body,
    profile_source_body,
    target_body,
)
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.patch import apply_patch
from provisioner.emulator.resources import Caller, Resources
from provisioner.emulator.store import Store
from provisioner.manifest import resolve_secrets
from provisioner.manifest.checks import load_and_check
from provisioner.plan.diff import diff_flow, digest_of
from provisioner.state.desired import DesiredFlow, desired_state

FLEET_ENV = {"FLEET_KEY_ID": "AKIAFLEET", "FLEET_SECRET": "fleet-secret"}


def write_fleet(folder: Path, count: int, flows_per_account: int = 10) -> Path:
    documents = []
    for i in range(count):
        audiences = "".join(
            f"\n  - id: {uuid.uuid5(uuid.NAMESPACE_URL, f'aud-{i}-{j}')}\n    name: Audience {j}"
            for j in range(3)
        )
        documents.append(
            f"version: 1\nname: fleet-{i:04d}\ndestination:\n  type: amazon-kinesis\n"
            f"  account: fleet-account-{i // flows_per_account:03d}\n  region: us-east-1\n"
            f"  stream: stream-{i:04d}\n  credentials:\n    accessKeyId: ${{env:FLEET_KEY_ID}}\n"
            f"    secretKey: ${{env:FLEET_SECRET}}\naudiences:{audiences}\nattributes:\n"
            "  - person.lastName\n  - personalEmail.address\n"
        )
    path = folder / "fleet.yaml"
    path.write_text("---\n".join(documents), encoding="utf-8")
    return path


def seed_fleet(store: Store, manifests: Path, sandbox: str = "prod") -> None:
    loaded = load_and_check([manifests])
    assert not loaded.errors and not resolve_secrets(loaded.manifests, FLEET_ENV)
    desired = desired_state(loaded.manifests, DEFAULT_ORG, sandbox, {})
    resources = Resources(store)
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, sandbox)
    base = resources.create("connections", caller, profile_base_body())
    source = resources.create("sourceConnections", caller, profile_source_body(base["id"]))
    accounts = {
        key: resources.create("connections", caller, account_body(account))["id"]
        for key, account in desired.accounts.items()
    }
    for flow in desired.flows.values():
        _seed_flow(store, resources, caller, flow, accounts[flow.account], source["id"])


def _seed_flow(
    store: Store,
    resources: Resources,
    caller: Caller,
    flow: DesiredFlow,
    account_id: str,
    source_id: str,
) -> None:
    body = target_body(flow.name, account_id, flow.spec_id, flow.target_params)
    target = resources.create("targetConnections", caller, body)
    created = resources.create("flows", caller, flow_body(flow, source_id, target["id"]))
    activation = diff_flow(created, flow).patch  # as apply activates a new dataflow
    activated = resources.patch("flows", caller, created["id"], activation, created["etag"])
    record = [
        {
            "op": "replace",
            "path": "/description",
            "value": applied_marker(flow.name, digest_of(activated, target)),
        }
    ]
    with store.transaction():
        store.put("targetConnections", caller.sandbox, apply_patch(target, record))
