"""Reading the live platform: every streaming destination dataflow and what it stands on.

Costs requests in proportion to N/100 for N dataflows, never N: one paged list of the
dataflows, then batched lookups by id (100 ids per call, comma OR-lists) of their target
connections, source connections and base connections, several batches at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.platform.client import PlatformClient
from provisioner.platform.ids import (
    DESTINATION_FLOW_SPEC_ID,
    EVENT_HUBS_SPEC_ID,
    KINESIS_SPEC_ID,
)

Resource = dict[str, Any]
STREAMING_SPECS = (KINESIS_SPEC_ID, EVENT_HUBS_SPEC_ID)


@dataclass
class LiveState:
    """Raw platform objects by id, as the platform returned them."""

    flows: dict[str, Resource] = field(default_factory=dict)
    targets: dict[str, Resource] = field(default_factory=dict)
    sources: dict[str, Resource] = field(default_factory=dict)
    connections: dict[str, Resource] = field(default_factory=dict)


def read_live(client: PlatformClient) -> LiveState:
    flows = client.list_all(
        "flows",
        [
            f"flowSpec.id=={DESTINATION_FLOW_SPEC_ID}",
            "inheritedAttributes.targetConnections[].connectionSpec.id=="
            + ",".join(STREAMING_SPECS),
        ],
        "read dataflows",
    )
    state = LiveState(flows={f["id"]: f for f in flows})
    target_ids = {t for f in flows for t in f.get("targetConnectionIds", [])}
    source_ids = {s for f in flows for s in f.get("sourceConnectionIds", [])}
    state.targets = _by_id(client.get_by_ids("targetConnections", target_ids, "read targets"))
    state.sources = _by_id(client.get_by_ids("sourceConnections", source_ids, "read sources"))
    base_ids = {
        r["baseConnectionId"]
        for r in (*state.targets.values(), *state.sources.values())
        if r.get("baseConnectionId")
    }
    state.connections = _by_id(client.get_by_ids("connections", base_ids, "read accounts"))
    return state


def _by_id(resources: list[Resource]) -> dict[str, Resource]:
    return {r["id"]: r for r in resources}
