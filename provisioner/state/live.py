"""Reading the live platform, and finding in it what the tool manages.

Costs requests in proportion to N/100 for N dataflows, never N: four paged list calls,
filtered by connection spec on the server and run at once: the streaming destination
dataflows, their target connections, the base connections (accounts and the profile's),
and the profile source connections.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioner import destinations
from provisioner.platform.client import PlatformClient
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, PROFILE_SPEC_ID
from provisioner.state.marker import read_marker

Resource = dict[str, Any]
STREAMING_SPECS = ",".join(destinations.spec_ids())


@dataclass
class LiveState:
    """Raw platform objects by id, as the platform returned them."""

    flows: dict[str, Resource] = field(default_factory=dict)
    targets: dict[str, Resource] = field(default_factory=dict)
    sources: dict[str, Resource] = field(default_factory=dict)
    connections: dict[str, Resource] = field(default_factory=dict)


def read_live(client: PlatformClient) -> LiveState:
    queries = {
        "flows": (
            "flows",
            [
                f"flowSpec.id=={DESTINATION_FLOW_SPEC_ID}",
                f"inheritedAttributes.targetConnections[].connectionSpec.id=={STREAMING_SPECS}",
            ],
        ),
        "targets": ("targetConnections", [f"connectionSpec.id=={STREAMING_SPECS}"]),
        "connections": ("connections", [f"connectionSpec.id=={STREAMING_SPECS},{PROFILE_SPEC_ID}"]),
        "sources": ("sourceConnections", [f"connectionSpec.id=={PROFILE_SPEC_ID}"]),
    }

    def fetch(name: str) -> tuple[str, list[Resource]]:
        kind, filters = queries[name]
        return name, client.list_all(kind, filters, f"read {kind}")

    with ThreadPoolExecutor(max_workers=min(client.concurrency, len(queries))) as pool:
        found = dict(pool.map(fetch, queries))
    return LiveState(**{name: {r["id"]: r for r in items} for name, items in found.items()})


@dataclass
class LiveFlow:
    key: str  # the manifest name its target's marker records
    flow: Resource
    target: Resource
    applied: str  # the digest recorded at the last apply ("" if none)


@dataclass
class ManagedState:
    """What the tool owns on the platform, by the keys the manifests use."""

    profile_base: Resource | None = None
    profile_source: Resource | None = None
    accounts: dict[str, Resource] = field(default_factory=dict)
    flows: dict[str, LiveFlow] = field(default_factory=dict)
    idle_targets: dict[str, Resource] = field(default_factory=dict)  # no dataflow uses them
    foreign_flows: dict[str, Resource] = field(default_factory=dict)  # by name; not ours
    duplicates: list[Resource] = field(default_factory=list)  # second copies of ours


def managed_state(live: LiveState) -> ManagedState:
    state = ManagedState()
    for resource in _oldest_first(live.connections.values()):
        fields = read_marker(resource) or {}
        if "account" in fields:
            _keep(state, state.accounts, fields["account"], resource)
        elif "profile" in fields and state.profile_base is None:
            state.profile_base = resource
    state.profile_source = next(
        (s for s in _oldest_first(live.sources.values()) if "profile" in (read_marker(s) or {})),
        None,
    )
    targets_by_id = {t["id"]: t for t in live.targets.values() if read_marker(t)}
    used_targets: set[str] = set()
    for flow in _oldest_first(live.flows.values()):
        target = next(
            (targets_by_id[t] for t in flow.get("targetConnectionIds", []) if t in targets_by_id),
            None,
        )
        if target is None:
            state.foreign_flows.setdefault(flow.get("name", ""), flow)
            continue
        used_targets.add(target["id"])
        fields = read_marker(target) or {}
        live_flow = LiveFlow(
            str(fields.get("dataflow") or flow.get("name", "")),
            flow,
            target,
            fields.get("applied", ""),
        )
        if live_flow.key in state.flows:
            state.duplicates.append(flow)
        else:
            state.flows[live_flow.key] = live_flow
    for target in targets_by_id.values():
        key = (read_marker(target) or {}).get("dataflow", "")
        if target["id"] not in used_targets and key:
            state.idle_targets.setdefault(key, target)
    return state


def _keep(state: ManagedState, into: dict[str, Resource], key: str, resource: Resource) -> None:
    if key in into:
        state.duplicates.append(resource)
    else:
        into[key] = resource


def _oldest_first(resources: Any) -> list[Resource]:
    return sorted(resources, key=lambda r: (r.get("createdAt", 0), r.get("id", "")))
