"""The answers the tool relies on, checked as they are read: JSON bodies, the Flow Service's
lists and pages, and the JSON types of the fields the tool reads of each object.

The rest of the tool reads platform objects as plain dicts (`flow["targetConnectionIds"]`,
`connection["auth"]["params"]`). A platform, or a proxy in between, that answers with a
field of another type (a number for a list, a list for a name) must end the run with one
line naming the object and the field, never as a crash deep inside the planner. So each
object a read returns is checked here, against the fields the tool reads of it.

A field may be absent, and most may be null: both read as "not set". Only where the tool
needs a value once the field is there (a list's items, a selector's `value`) is null refused.
Fields the tool never reads are not checked, so that a platform adding or changing them
cannot stop a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioner.platform.failures import MalformedAnswerError

Resource = dict[str, Any]
SHOWN_ID_LENGTH = 64  # an id named in a message is cut to this: the answer may be hostile


@dataclass(frozen=True)
class Text:
    """A JSON string."""

    nullable: bool = True


@dataclass(frozen=True)
class Scalar:
    """A string, an integer, a boolean or null: what a credential parameter can be and
    what a plan can show as a field's before and after."""

    nullable: bool = True


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose every item (never null) is `item`."""

    item: Spec
    nullable: bool = True


@dataclass(frozen=True)
class Obj:
    """A JSON object: the named `fields` checked when present; with `values`, every value."""

    fields: Mapping[str, Spec] = field(default_factory=dict)
    values: Spec | None = None
    nullable: bool = True


Spec = Text | Scalar | ListOf | Obj

_SPEC_REF = Obj({"id": Text(), "version": Text()})
# Fields every Flow Service object has, that the tool reads: the name and description hold
# its ownership marker, the etag guards its writes, updatedClient attributes drift.
_COMMON: dict[str, Spec] = {
    "name": Text(),
    "description": Text(),
    "etag": Text(),
    "state": Text(),
    "connectionSpec": _SPEC_REF,
    "createdClient": Text(),
    "updatedClient": Text(),
}
_SELECTORS = Obj(
    {
        "selectors": ListOf(
            Obj(
                {
                    "type": Text(),
                    "value": Obj(
                        {"id": Text(), "name": Text(), "path": Text(), "operator": Text()},
                        nullable=False,
                    ),
                }
            )
        )
    }
)
SHAPES: dict[str, Obj] = {
    "flows": Obj(
        _COMMON
        | {
            "flowSpec": _SPEC_REF,
            "sourceConnectionIds": ListOf(Text()),
            "targetConnectionIds": ListOf(Text()),
            "transformations": ListOf(
                Obj(
                    {
                        "name": Text(),
                        "params": Obj(
                            {"profileSelectors": _SELECTORS, "segmentSelectors": _SELECTORS}
                        ),
                    }
                )
            ),
            "lastRunDetails": Obj(),
        }
    ),
    "targetConnections": Obj(
        _COMMON | {"baseConnectionId": Text(), "params": Obj(), "data": Obj()}
    ),
    "sourceConnections": Obj(
        _COMMON | {"baseConnectionId": Text(), "params": Obj(), "data": Obj()}
    ),
    "connections": Obj(
        _COMMON | {"auth": Obj({"specName": Text(), "params": Obj(values=Scalar())})}
    ),
}
# How a message names an object of each kind.
_NOUNS = {
    "flows": "dataflow",
    "targetConnections": "target connection",
    "sourceConnections": "source connection",
    "connections": "connection",
}


def shape_problem(kind: str, resource: Mapping[str, Any]) -> str | None:
    """What is wrong with `resource` (an object of `kind`, its id checked already), in words
    that name it and the field; None when the fields the tool reads have their types."""
    shape = SHAPES.get(kind)
    if shape is None or _FITS[kind](resource):
        return None
    found = first_problem(shape, resource, "")
    if found is None:
        return None
    path, what = found
    noun = _NOUNS.get(kind, "object")
    return f"{noun} {_shown_id(resource.get('id'))} whose {path} is {what}"


Fits = Callable[[Any], bool]


def fits(spec: Spec) -> Fits:
    """A check that a value is `spec`, made once per shape. Every object of every page is
    checked, and nearly all of them fit: this says only whether one does, with no path or
    message made on the way (`first_problem` then finds what is wrong, for the one that does
    not). Same verdict as `first_problem(spec, value, "") is None`."""
    if isinstance(spec, Text):
        return _text if spec.nullable else _text_set
    if isinstance(spec, Scalar):
        return _scalar if spec.nullable else _scalar_set
    if isinstance(spec, ListOf):
        return _list_fits(spec.item, spec.nullable)
    return _object_fits(spec)


def _text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _text_set(value: Any) -> bool:
    return isinstance(value, str)


def _scalar(value: Any) -> bool:
    return value is None or _scalar_set(value)


def _scalar_set(value: Any) -> bool:
    # bool is an int in Python, and JSON's 1.0 reads as a float: both checked by type.
    return isinstance(value, str | bool) or type(value) is int


def _list_fits(item_spec: Spec, nullable: bool) -> Fits:
    item_fits = fits(item_spec)

    def check(value: Any) -> bool:
        if value is None:
            return nullable
        return isinstance(value, list) and all(i is not None and item_fits(i) for i in value)

    return check


def _object_fits(spec: Obj) -> Fits:
    fields = [(name, fits(inner)) for name, inner in spec.fields.items()]
    values_fit = fits(spec.values) if spec.values is not None else None
    nullable = spec.nullable

    def check(value: Any) -> bool:
        if value is None:
            return nullable
        if not isinstance(value, dict):
            return False
        for name, field_fits in fields:
            if name in value and not field_fits(value[name]):
                return False
        return values_fit is None or all(values_fit(v) for v in value.values())

    return check


_FITS: dict[str, Fits] = {kind: fits(shape) for kind, shape in SHAPES.items()}


def first_problem(spec: Spec, value: Any, path: str) -> tuple[str, str] | None:
    """(where, what is wrong) for the first field of `value` that is not `spec`, or None."""
    if value is None:
        return None if spec.nullable else (path, f"null, not {_expected(spec)}")
    if not _is(spec, value):
        return path, f"{_kind_of(value)}, not {_expected(spec)}"
    if isinstance(spec, ListOf):
        for index, item in enumerate(value):
            if item is None:
                return f"{path}[{index}]", f"null, not {_expected(spec.item)}"
            found = first_problem(spec.item, item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(spec, Obj):
        for name, inner in spec.fields.items():
            if name in value:
                found = first_problem(inner, value[name], _join(path, name))
                if found is not None:
                    return found
        if spec.values is not None:
            for name, inner_value in value.items():
                found = first_problem(spec.values, inner_value, _join(path, str(name)))
                if found is not None:
                    return found
    return None


def _is(spec: Spec, value: Any) -> bool:
    if isinstance(spec, Text):
        return _text_set(value)
    if isinstance(spec, Scalar):
        return _scalar_set(value)
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    return isinstance(value, dict)


def _expected(spec: Spec) -> str:
    if isinstance(spec, Text):
        return "a string"
    if isinstance(spec, Scalar):
        return "a string, an integer or a boolean"
    if isinstance(spec, ListOf):
        return "a list"
    return "an object"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _join(path: str, name: str) -> str:
    # A key from the answer is shown only if it is short and plain: it may be hostile.
    shown = name if name.isidentifier() and len(name) <= SHOWN_ID_LENGTH else "(a key)"
    return f"{path}.{shown}" if path else shown


def _shown_id(value: Any) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_ID_LENGTH else text[:SHOWN_ID_LENGTH] + "…"


# answers -------------------------------------------------------------------------------


def malformed(where: str, status: int, what: str) -> MalformedAnswerError:
    return MalformedAnswerError(
        f"{where} answered {status} with {what}; the platform (or a proxy in between) sent "
        "something unexpected"
    )


def json_body(where: str, response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise malformed(where, response.status_code, "a body that is not JSON") from None


def json_object(where: str, response: httpx.Response) -> dict[str, Any]:
    body = json_body(where, response)
    if not isinstance(body, dict):
        raise malformed(where, response.status_code, "JSON that is not an object")
    return body


def items(where: str, response: httpx.Response, kind: str) -> list[Resource]:
    """The `items` of a read, each an object with an id."""
    return items_of(where, json_object(where, response), response.status_code, kind)


def items_of(where: str, body: dict[str, Any], status: int, kind: str) -> list[Resource]:
    """The `items` of a read of `kind`: each an object with an id, whose fields that the
    tool reads have the types it relies on (`SHAPES`)."""
    listed = body.get("items")
    if not isinstance(listed, list):
        raise malformed(where, status, "no list of items")
    resources = [resource(where, item, status) for item in listed]
    for each in resources:
        problem = shape_problem(kind, each)
        if problem is not None:
            raise malformed(where, status, problem)
    return resources


def resource(where: str, item: Any, status: int = 200) -> Resource:
    if not isinstance(item, dict):
        raise malformed(where, status, "an item that is not an object")
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise malformed(where, status, "an object without an id")
    return item


def next_link(where: str, body: dict[str, Any], status: int) -> str | None:
    """A page's link to the next, a Flow Service path; None on the last page."""
    links = body.get("_links") or {}
    following = links.get("next") if isinstance(links, dict) else None
    href = following.get("href") if isinstance(following, dict) else None
    if not href:
        return None
    if not isinstance(href, str) or not href.startswith("/") or href.startswith("//"):
        raise malformed(where, status, "a next link that is not a Flow Service path")
    return href


def etag_in(found: Resource) -> str | None:
    etag = found.get("etag")
    return etag if isinstance(etag, str) and etag else None


def etag_of(where: str, response: httpx.Response) -> str | None:
    """The etag of a write's answer; None when it has no body or no etag."""
    if not response.content.strip():
        return None
    return etag_in(json_object(where, response))
