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
