"""The platform's own writes, as Adobe's published captures show them.

After each run the platform rewrites a dataflow (a new etag, a later `updatedAt`, its own
client recorded as the last writer, `lastRunDetails` filled in, `createTime`/`updateTime`
on audience selectors) without changing what it exports; a new connection's etag moves
about 2 s after its creation. No API request does this, so it is made directly on the
emulator's store.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from provisioner.emulator import EmulatorApp

Resource = dict[str, Any]
RUNS_CLIENT = "acp_foundation_connectors"  # writes runs, and dataflows after their runs


def platform_write(
    emulator: EmulatorApp, kind: str, resource_id: str, sandbox: str = "prod"
) -> Resource:
    """Rewrite a stored flow or connection as the platform does on its own: new etag,
    later `updatedAt`, last writer `acp_foundation_connectors`, the tool's content as it
    was. Returns the object as now stored."""
    store = emulator.store
    with store.transaction():
        current = store.get(kind, sandbox, resource_id)
        assert current is not None, f"no {kind} {resource_id} in {sandbox}"
        written = copy.deepcopy(current)
        etag = store.new_etag()
        now = max(int(time.time() * 1000), int(current.get("updatedAt") or 0) + 1)
        written.update(
            etag=etag,
            version=etag,
            updatedAt=now,
            updatedClient=RUNS_CLIENT,
            updatedBy=f"{RUNS_CLIENT}@AdobeID",
        )
        if kind == "flows":
            _after_a_run(written, now)
        store.put(kind, sandbox, written)
    assert written["etag"] != current["etag"]
    return written


def _after_a_run(flow: Resource, now: int) -> None:
    """What a run leaves on its dataflow besides the etag: fields the tool never writes."""
    flow["lastRunDetails"] = {
        "id": "run-by-the-platform",
        "state": "success",
        "startedAtUTC": now - 60_000,
        "completedAtUTC": now,
    }
    for transformation in flow.get("transformations") or []:
        params = transformation.get("params") or {}
        for selector in (params.get("segmentSelectors") or {}).get("selectors") or []:
            stamp = str(now // 1000)
            selector["value"].setdefault("createTime", stamp)
            selector["value"]["updateTime"] = stamp
