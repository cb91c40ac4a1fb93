"""A fleet of N managed dataflows, for scale tests and benchmarks.

`write_fleet` writes N manifests; `seed_fleet` writes into an emulator store exactly what
`apply` would have made for them (markers, fingerprints, activated selectors, the recorded
digest), using the tool's own functions, so that a plan of the fleet has nothing to do.
Applying 1,000 dataflows through the API would take minutes; this takes seconds.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from provisioner.apply import account_marker
from provisioner.desired import AUTH_SPECS, DesiredFlow, auth_params, desired_state
from provisioner.diff import digest_of, seed_patch
from provisioner.emulator.app import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.patch import apply_patch
from provisioner.emulator.resources import Caller, Resources
from provisioner.emulator.store import Store
from provisioner.manifest import resolve_secrets
from provisioner.manifest.checks import load_and_check
from provisioner.ownership import PROFILE_BASE_NAME, PROFILE_SOURCE_NAME, marker
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, PROFILE_SPEC_ID, SPEC_VERSION

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
    profile = {
        "connectionSpec": {"id": PROFILE_SPEC_ID, "version": SPEC_VERSION},
        "description": marker(profile=""),
    }
    base = resources.create("connections", caller, {"name": PROFILE_BASE_NAME, **profile})
    source = resources.create(
        "sourceConnections",
        caller,
        {"name": PROFILE_SOURCE_NAME, "baseConnectionId": base["id"], **profile},
    )
    accounts = {}
    for key, account in desired.accounts.items():
        accounts[key] = resources.create(
            "connections",
            caller,
            {
                "name": key,
                "description": account_marker(account),
                "connectionSpec": {"id": account.spec_id, "version": SPEC_VERSION},
                "auth": {"specName": AUTH_SPECS[account.type], "params": auth_params(account)},
            },
        )["id"]
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
    target = resources.create(
        "targetConnections",
        caller,
        {
            "name": flow.name,
            "description": marker(dataflow=flow.name),
            "baseConnectionId": account_id,
            "connectionSpec": {"id": flow.spec_id, "version": SPEC_VERSION},
            "data": {"format": "json"},
            "params": flow.target_params,
        },
    )
    created = resources.create(
        "flows",
        caller,
        {
            "name": flow.name,
            "description": flow.description,
            "flowSpec": {"id": DESTINATION_FLOW_SPEC_ID, "version": SPEC_VERSION},
            "sourceConnectionIds": [source_id],
            "targetConnectionIds": [target["id"]],
            "transformations": [
                {
                    "name": "GeneralTransform",
                    "params": {
                        "profileSelectors": {"selectors": []},
                        "segmentSelectors": {"selectors": []},
                    },
                }
            ],
        },
    )
    activated = resources.patch("flows", caller, created["id"], seed_patch(flow), created["etag"])
    recorded = apply_patch(
        target,
        [
            {
                "op": "replace",
                "path": "/description",
                "value": marker(dataflow=flow.name, applied=digest_of(activated, target)),
            }
        ],
    )
    with store.transaction():
        store.put("targetConnections", caller.sandbox, recorded)
