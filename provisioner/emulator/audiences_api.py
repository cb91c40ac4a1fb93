"""The Segmentation Service's Audiences API: list, read by id, bulk read; its routes are
in the emulator's route table (`routes.py`), its audiences in `audiences.py`.

Errors use the service's own shape: `{requestId, errors: {STATUS: [{code, message}]}, type,
title, status}`. A `property` filter whose operator is not `==` is refused as a live platform
refused one: 400 `NEBULA-100058-400` "Unknown operator", never an empty list.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from provisioner.emulator import gateway
from provisioner.emulator.audiences import KIND, is_uuid
from provisioner.emulator.errors import ApiError, audience_error, unknown_operator
from provisioner.emulator.messages import Request, Response, json_response
from provisioner.emulator.parts import Parts
from provisioner.emulator.resources import Caller, sandbox_id
from provisioner.emulator.router import Call
from provisioner.emulator.store import Resource

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
MAX_BULK_IDS = 100
# A property filter: an attribute, an operator (any run of comparison signs), a value.
_PROPERTY = re.compile(r"(?P<attribute>[A-Za-z0-9_.]+)\s*(?P<op>[=!<>~]+)(?P<value>.*)")


def admit(parts: Parts, request: Request) -> Caller:
    """The gateway's checks; then an organisation not enabled for audiences is refused."""
    caller = gateway.admit(parts, request)
    if not parts.audiences.enabled(caller.sandbox):
        raise audience_error(403, "113740", "The IMS Org is not enabled for External Segment.")
    return caller


def not_found(request: Request) -> ApiError:
    return audience_error(404, "113000", f"No resource at {request.path}")


def not_allowed(_request: Request, message: str) -> ApiError:
    return audience_error(405, "113001", message)


def list_audiences(parts: Parts, call: Call) -> Response:
    query, caller = call.request.query, call.caller
    start = _integer(query, "start", 0, minimum=0)
    limit = _integer(query, "limit", DEFAULT_LIMIT, minimum=1)
    if limit > MAX_LIMIT:
        raise _bad_query(f"limit cannot exceed {MAX_LIMIT}")
    rendered = [_rendered(a, caller) for a in parts.audiences.stored(caller.sandbox)]
    matching = [a for a in rendered if _matches(a, query)]
    sort_field, direction = _sort(query)
    matching.sort(
        key=lambda a: (_sort_key(a.get(sort_field)), a["id"]), reverse=direction == "desc"
    )
    return json_response(200, _page(matching, start, limit, sort_field, direction))


def _page(
    matching: list[dict[str, Any]], start: int, limit: int, sort_field: str, direction: str
) -> dict[str, Any]:
    page = matching[start : start + limit]
    total = len(matching)
    meta: dict[str, Any] = {
        "totalCount": total,
        "totalPages": math.ceil(total / limit),
        "sortField": sort_field,
        "sort": direction,
        "pageSize": len(page),
        "limit": limit,
        "start": start,
    }
    links: dict[str, Any] = {}
    if start + len(page) < total:
        meta["next"] = start + len(page)
        links["next"] = {
            "href": f"@/audiences?start={meta['next']}&limit={limit}&totalCount={total}"
        }
    return {"children": page, "_page": meta, "_links": links}


def read_audience(parts: Parts, call: Call) -> Response:
    audience_id = call.params["id"]
    found = _find(parts, audience_id, call.caller)
    if found is None:
        raise audience_error(
            404,
            "113430",
            f"The audience entity {audience_id} is not found. Use a valid entity and try again.",
        )
    return json_response(200, found)


def bulk_get(parts: Parts, call: Call) -> Response:
    ids = _bulk_ids(call.request.body)
    results: dict[str, Any] = {}
    missing = []
    find = _finder(parts, call.caller)
    for audience_id in ids:
        found = find(audience_id)
        if found is None:
            missing.append(audience_id)
            results[audience_id] = {
                "requestId": uuid.uuid4().hex,
                "errors": {"404": [{"code": 404, "message": "Not found."}]},
            }
        else:
            results[audience_id] = found
    if len(missing) == len(ids):
        raise audience_error(404, "113000", f"The entity {','.join(missing)} is not found.")
    return json_response(207, {"results": results})


def _find(parts: Parts, audience_id: str, caller: Caller) -> dict[str, Any] | None:
    if not parts.audiences.seeded(caller.sandbox):
        return _unseeded(audience_id, caller)
    found = parts.store.get(KIND, caller.sandbox, audience_id)
    return _rendered(found, caller) if found is not None else None


def _finder(parts: Parts, caller: Caller) -> Callable[[str], dict[str, Any] | None]:
    """How to find one audience of the caller's sandbox by id: the store is asked once,
    whatever the number of ids (a bulk read has up to 100)."""
    if not parts.audiences.seeded(caller.sandbox):
        return lambda audience_id: _unseeded(audience_id, caller)
    stored = {a["id"]: a for _, a in parts.store.entries(KIND, caller.sandbox)}

    def find(audience_id: str) -> dict[str, Any] | None:
        found = stored.get(audience_id)
        return _rendered(found, caller) if found is not None else None

    return find


def _rendered(stored: Resource, caller: Caller) -> dict[str, Any]:
    """An audience as the API answers it: a Platform-generated audience."""
    created = int(stored.get("createdAt", 0))
    updated = int(stored.get("updatedAt", 0))
    return {
        "id": stored["id"],
        "audienceId": stored["id"],
        "schema": {"name": "_xdm.context.profile"},
        "imsOrgId": caller.org,
        "sandbox": {
            "sandboxId": sandbox_id(caller.sandbox),
            "sandboxName": caller.sandbox,
            "type": "production" if caller.sandbox == "prod" else "development",
            "default": caller.sandbox == "prod",
        },
        "name": stored["name"],
        "description": stored["description"],
        "isSystem": False,
        "type": "SegmentDefinition",
        "namespace": "AEPSegments",
        "originName": "REAL_TIME_CUSTOMER_PROFILE",
        "lifecycleState": stored["lifecycleState"],
        "creationTime": created,
        "createEpoch": created // 1000,
        "updateTime": updated,
        "updateEpoch": updated // 1000,
        "_etag": stored.get("etag", '"00000000-0000-0200-0000-000000000000"'),
        "dependents": [],
        "dependencies": [],
    }


def _bad_query(message: str) -> ApiError:
    return audience_error(400, "113008", f"Invalid query parameter: {message}")


def _last(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _integer(query: Mapping[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = _last(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_query(f"{name} must be an integer") from None
    if value < minimum:
        raise _bad_query(f"{name} must be at least {minimum}")
    return value


def _matches(audience: dict[str, Any], query: Mapping[str, list[str]]) -> bool:
    for field in ("name", "description"):
        wanted = _last(query, field)
        if wanted and wanted.lower() not in str(audience[field]).lower():
            return False
    entity_type = _last(query, "entityType")
    if entity_type and audience["schema"]["name"] != entity_type:
        return False
    for condition in query.get("property", []):
        attribute, value = _property(condition)
        if str(audience.get(attribute, "")) != value:
            return False
    return True


def _property(condition: str) -> tuple[str, str]:
    """(attribute, value) of a `property` filter, which is documented with `==` alone."""
    match = _PROPERTY.fullmatch(condition.strip())
    if match is None:
        raise _bad_query("property must be written attributeName==value")
    if match["op"] != "==":
        raise unknown_operator(match["op"], condition)
    return match["attribute"], match["value"].strip()


def _sort(query: Mapping[str, list[str]]) -> tuple[str, str]:
    raw = _last(query, "sort")
    if not raw:
        return "name", "asc"
    field, _, direction = raw.partition(":")
    direction = (direction or "asc").lower()
    if not field or direction not in ("asc", "desc"):
        raise _bad_query("sort must be written attributeName:asc or attributeName:desc")
    return field, direction


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers sort as numbers, everything else as case-insensitive text; missing fields first.
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value).lower())


def _unseeded(audience_id: str, caller: Caller) -> dict[str, Any] | None:
    """A sandbox never seeded knows every well-formed id (as an unnamed, active audience)."""
    if not is_uuid(audience_id):
        return None
    stored = {"id": audience_id, "name": "", "description": "", "lifecycleState": "active"}
    return _rendered(stored, caller)


def _bulk_ids(body: bytes) -> list[str]:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        raise audience_error(400, "113015", "The request body is not valid JSON.") from None
    entries = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_BULK_IDS:
        raise audience_error(
            400,
            "113015",
            f"The number of requested IDs is invalid. Cannot be 0 or exceed {MAX_BULK_IDS}.",
        )
    ids = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise audience_error(400, "113015", 'Each requested ID must be an object {"id": ...}.')
        if entry["id"] not in ids:
            ids.append(entry["id"])
    return ids
