"""The live content a change is planned against, as a digest.

A saved plan is applied hours after it was reviewed, and the platform writes to objects on
its own meanwhile (Adobe's published captures: a dataflow is rewritten seconds after each run, a new
connection's etag moves about 2 s after its creation, selectors gain fields), so neither
an etag nor a timestamp says whether what the tool manages on an object changed. This
digest does: it covers only what the tool manages (what it diffs and writes), in the live
order (a JSON Patch addresses selectors by index), and nothing the platform adds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from provisioner import destinations
from provisioner.platform.ids import PROFILE_SPEC_ID

Resource = dict[str, Any]

# Auth params the service adds on its own (the Flow Service API's examples: `authorizedDate`).
_PLATFORM_AUTH_PARAMS = frozenset({"authorizedDate"})


def content_digest(resource: Resource) -> str:
    """sha256 of what the tool manages on a live flow, connection or source connection."""
    text = json.dumps(managed_content(resource), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def managed_content(resource: Resource) -> dict[str, Any]:
    """What the tool manages on a live object, told apart by its shape (a change records
    only the object, not its kind): a flow has a flow spec and selectors; a target or
    source connection names its base connection; an account (a base connection) does not."""
    if any(key in resource for key in ("flowSpec", "transformations", "targetConnectionIds")):
        return _flow(resource)
    if "baseConnectionId" in resource:
        if _spec_id(resource) == PROFILE_SPEC_ID:
            return {"baseConnectionId": resource.get("baseConnectionId")}
        return {"params": resource.get("params") or {}}
    return _account(resource)


def _flow(flow: Resource) -> dict[str, Any]:
    # Only the selector fields the tool writes: the platform adds `createTime`/`updateTime`
    # to audiences and `mapping`/`identity` to attributes.
    return {
        "name": flow.get("name"),
        "description": flow.get("description") or "",
        "state": str(flow.get("state") or "").lower(),
        "audiences": [
            [value.get("id"), value.get("name"), value.get("description")]
            for value in _selector_values(flow, "segmentSelectors")
        ],
        "attributes": [value.get("path") for value in _selector_values(flow, "profileSelectors")],
    }


def _selector_values(flow: Resource, group: str) -> list[Resource]:
    transformations = flow.get("transformations") or [{}]
    first = transformations[0] if isinstance(transformations[0], dict) else {}
    params = first.get("params") or {}
    selectors = (params.get(group) or {}).get("selectors") or []
    return [
        s["value"] if isinstance(s.get("value"), dict) else {}
        for s in selectors
        if isinstance(s, dict)
    ]


def _account(account: Resource) -> dict[str, Any]:
    """Name, type, the non-secret auth params, and the description (the tool's marker,
    with the credentials' fingerprint); never a secret, masked or not."""
    spec_id = _spec_id(account)
    known = destinations.by_spec_id(spec_id)
    secret = set(known.credential_keys) if known is not None else set()
    params = (account.get("auth") or {}).get("params") or {}
    return {
        "name": account.get("name"),
        "type": spec_id,
        "params": {
            k: v for k, v in params.items() if k not in secret and k not in _PLATFORM_AUTH_PARAMS
        },
        "description": account.get("description") or "",
    }


def _spec_id(resource: Resource) -> str:
    return str((resource.get("connectionSpec") or {}).get("id", ""))
