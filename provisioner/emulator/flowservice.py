"""The Flow Service's endpoints: connection and flow specs, the four kinds of objects, the
flow action, and runs; their routes are in the emulator's route table (`routes.py`).

Objects are listed a page at a time (`query.py`); an item read from the store as it was
stored is answered from its stored JSON, without encoding it anew.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provisioner.emulator import gateway
from provisioner.emulator.catalog import FLOW_SERVICE_PATH
from provisioner.emulator.errors import ApiError, bad_request
from provisioner.emulator.messages import Request, Response, encoded_response, json_response
from provisioner.emulator.parts import Parts
from provisioner.emulator.query import (
    DEFAULT_LIMIT,
    Query,
    count_matches,
    decode_token,
    parse_limit,
    run_query,
)
from provisioner.emulator.resources import Caller, masked
from provisioner.emulator.router import Call
from provisioner.emulator.runs import LIST_LIMIT
from provisioner.emulator.specs import CONNECTION_SPECS, FLOW_SPECS
from provisioner.emulator.strict import WRITE_METHODS, check_action, check_write

SPEC_KINDS = {"connectionSpecs": CONNECTION_SPECS, "flowSpecs": FLOW_SPECS}
_PREFIX = tuple(part for part in FLOW_SERVICE_PATH.split("/") if part)


def admit(parts: Parts, request: Request) -> Caller:
    """The gateway's checks; then, in strict mode, a write no document shows is refused
    whether or not the emulator could carry it out."""
    caller = gateway.admit(parts, request)
    if parts.config.strict and request.method in WRITE_METHODS:
        relative = request.segments[len(_PREFIX) :]
        path = "/" + "/".join(relative)
        check_write(request.method, path, request.query, request.json(), parts.config.also_accept)
    return caller


def not_found(request: Request) -> ApiError:
    return ApiError(404, "1101", f"No resource at {request.path}")


def not_allowed(_request: Request, message: str) -> ApiError:
    return ApiError(405, "0", message)


# specs -----------------------------------------------------------------------------------


def list_specs(_parts: Parts, call: Call) -> Response:
    kind = call.params["specs"]
    entries = [(0, spec) for spec in SPEC_KINDS[kind].values()]
    return page(call.request, kind, entries)


def read_spec(_parts: Parts, call: Call) -> Response:
    kind, spec_id = call.params["specs"], call.params["id"]
    spec = SPEC_KINDS[kind].get(spec_id)
    if spec is None:
        raise ApiError(404, "1101", f"The requested {kind} resource {spec_id} is not found")
    return json_response(200, {"items": [spec]})


# objects ---------------------------------------------------------------------------------


def list_objects(parts: Parts, call: Call) -> Response:
    kind = call.params["kind"]
    entries, texts = parts.store.listing(kind, call.caller.sandbox)
    return page(call.request, kind, entries, texts if kind != "connections" else None)


def create(parts: Parts, call: Call) -> Response:
    created = parts.resources.create(call.params["kind"], call.caller, call.request.json())
    return json_response(201, {"id": created["id"], "etag": created["etag"]})


def read(parts: Parts, call: Call) -> Response:
    found = parts.resources.read(call.params["kind"], call.caller, call.params["id"])
    return json_response(200, {"items": [found]})


def patch(parts: Parts, call: Call) -> Response:
    request = call.request
    updated = parts.resources.patch(
        call.params["kind"],
        call.caller,
        call.params["id"],
        request.json(),
        request.headers.get("if-match"),
    )
    if parts.config.patch_status == 202:
        return json_response(202, None)
    return json_response(200, {"id": updated["id"], "etag": updated["etag"]})


def delete(parts: Parts, call: Call) -> Response:
    parts.resources.delete(call.params["kind"], call.caller, call.params["id"])
    return json_response(parts.config.delete_status, None)


def action(parts: Parts, call: Call) -> Response:
    request = call.request
    check_action(request.query, parts.config.action_form, parts.config.strict)
    flow = parts.resources.flow_action(
        call.caller, call.params["id"], request.param("op") or "", request.headers.get("if-match")
    )
    return json_response(200, {"id": flow["id"], "etag": flow["etag"]})


# runs: the platform's records, listed and read, never written by a client ---------------


def list_runs(parts: Parts, call: Call) -> Response:
    entries = parts.runs.entries(call.caller.sandbox, call.request.query.get("property", []))
    return page(call.request, "runs", entries, default_limit=LIST_LIMIT)


def read_run(parts: Parts, call: Call) -> Response:
    return json_response(200, {"items": [parts.runs.read(call.caller.sandbox, call.params["id"])]})


def refuse_run(_parts: Parts, _call: Call) -> Response:
    raise bad_request("1400", "The runs of a destination dataflow are made by the platform")


# lists -----------------------------------------------------------------------------------


def page(
    request: Request,
    kind: str,
    entries: list[tuple[int, Any]],
    texts: Mapping[str, str] | None = None,
    default_limit: int = DEFAULT_LIMIT,
) -> Response:
    """A page of `entries`, or their count; with `texts` (each item's JSON as stored, where
    a read shows it as stored), the page is put together from them instead of encoded anew."""
    filters = tuple(request.query.get("property", []))
    if (request.param("count") or "").lower() == "true":
        if request.param("limit") is not None:
            raise bad_request("1401", "limit and count parameters cannot be given together")
        return json_response(200, {"count": count_matches(entries, filters)})
    query, after = _query(request, filters, default_limit)
    found = run_query(entries, query, after)
    links = (
        {"next": {"href": f"/{kind}?continuationToken={found.next_token}"}}
        if found.next_token
        else {}
    )
    if texts is not None:
        items = ",".join(texts[r["id"]] for r in found.items)
        return encoded_response(200, f'{{"items":[{items}],"_links":{json.dumps(links)}}}')
    return json_response(200, {"items": [masked(kind, r) for r in found.items], "_links": links})


def _query(
    request: Request, filters: tuple[str, ...], default_limit: int
) -> tuple[Query, list[Any] | None]:
    """The query a page answers: the one a continuation token carries, or the request's."""
    token = request.param("continuationToken")
    if token:
        return decode_token(token)
    order = request.param("orderby") or ""
    return Query(filters, order, parse_limit(request.param("limit"), default_limit)), None
