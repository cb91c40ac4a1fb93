"""Reading the live platform, and finding in it what the tool manages.

Costs requests in proportion to N/100 for N dataflows, never N: paged list calls,
filtered by connection spec on the server and run at once: the streaming destination
dataflows and their target connections (one list per destination type, so that pages of
each are read side by side: paging itself is sequential), the base connections (accounts
and the profile's), and the profile source connections.
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
    queries: list[tuple[str, str, list[str]]] = []
    for spec_id in destinations.spec_ids():
        queries += [
            (
                "flows",
                "flows",
                [
                    f"flowSpec.id=={DESTINATION_FLOW_SPEC_ID}",
                    f"inheritedAttributes.targetConnections[].connectionSpec.id=={spec_id}",
                ],
            ),
            ("targets", "targetConnections", [f"connectionSpec.id=={spec_id}"]),
        ]
    queries += [
        ("connections", "connections", [f"connectionSpec.id=={STREAMING_SPECS},{PROFILE_SPEC_ID}"]),
        ("sources", "sourceConnections", [f"connectionSpec.id=={PROFILE_SPEC_ID}"]),
    ]

    def fetch(query: tuple[str, str, list[str]]) -> tuple[str, list[Resource]]:
        name, kind, filters = query
        return name, client.list_all(kind, filters, f"read {kind}")

    found: dict[str, dict[str, Resource]] = {name: {} for name, _, _ in queries}
    with ThreadPoolExecutor(max_workers=min(client.concurrency, len(queries))) as pool:
        for name, items in pool.map(fetch, queries):
            found[name].update((r["id"], r) for r in items)
    return LiveState(**found)
