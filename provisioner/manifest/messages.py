"""Pydantic validation errors rewritten as messages for people.

Messages never echo a value found under `credentials`: only fields listed in
`_SHOWN_VALUES`, or in a destination type's `shown_fields`, repeat the offending input, and
none of them is secret. A destination type's own fields are described by its module.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from provisioner import destinations
from provisioner.destinations import DestinationType
from provisioner.manifest.model import DESTINATION_TYPES, Audience, Manifest

# The union tags that appear in error locations, and the model each one selects.
_TAG_MODELS: dict[str, type[BaseModel]] = {
    **{kind.type: kind.manifest_model for kind in destinations.ALL},
    "object": Audience,
}

_PATTERN_HINTS = {
    "audiences": "is not a valid audience id (a UUID such as 72ddd79b-6b0a-4e97-a8d2-112ccd81bd02)",
    "id": "is not a valid audience id (a UUID such as 72ddd79b-6b0a-4e97-a8d2-112ccd81bd02)",
    "attributes": "is not an XDM path (such as person.lastName or personalEmail.address)",
    "name": "must not be empty or start or end with spaces",
    "renamedFrom": "must not be empty or start or end with spaces",
    "account": "must not be empty or start or end with spaces",
    "project": "is not a project name (lowercase letters, digits, '.', '_' and '-', starting "
    "with a letter or digit; at most 64)",
    "sandbox": "is not a sandbox name (lowercase letters, digits and hyphens)",
    "manifests": "must not be empty",
}
_SHOWN_VALUES = frozenset(
    {
        "audiences",
        "id",
        "attributes",
        "type",
        "version",
        "project",
        "sandbox",
    }
)
_TYPE_NAMES = {
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "int_type": "a whole number",
    "float_type": "a number",
}


def field_name(loc: tuple[str | int, ...]) -> str:
    """The last named field of a location, skipping list indexes and union tags.

    The bare-id audience form is tagged "id", which reads as the audience's id field,
    exactly as the object form's error does.
    """
    for part in reversed(loc):
        if isinstance(part, str) and part not in _TAG_MODELS:
            return part
    return ""


def describe(error: ErrorDetails, root: type[BaseModel] = Manifest) -> str:
    """One readable sentence for one pydantic error of a document validated as `root`."""
    kind, loc = error["type"], tuple(error["loc"])
    field = field_name(loc)
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing"
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind == "union_tag_invalid":
        return _unknown_destination(error)
    if kind == "union_tag_not_found":
        return f"required key 'type' is missing ({' or '.join(DESTINATION_TYPES)})"
    if kind == "literal_error" and field == "version":
        given = error["input"]
        if isinstance(given, str):
            return f"version must be the number 1, not the string '{given}'"
        return f"unsupported manifest version {given!r}; the only version is 1"
    if kind == "string_pattern_mismatch":
        return _pattern_mismatch(field, error["input"], _destination_type(loc))
    if kind in ("string_too_short",):
        return "must not be empty"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {_yaml_type(error['input'])}"
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _destination_type(loc: tuple[str | int, ...]) -> DestinationType | None:
    """The destination type whose model an error is in: its tag is in the location."""
    tag = next((part for part in loc if part in DESTINATION_TYPES), None)
    return destinations.by_type(tag) if isinstance(tag, str) else None


def _pattern_mismatch(field: str, value: Any, kind: DestinationType | None) -> str:
    hints, shown = _PATTERN_HINTS, _SHOWN_VALUES
    if kind is not None:
        hints, shown = {**hints, **kind.pattern_hints}, shown | kind.shown_fields
    hint = hints.get(field, "has an invalid form")
    return f"{_shown(value)} {hint}" if field in shown else hint


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _unknown_destination(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    tag = context.get("tag", "")
    return f"unknown destination type '{tag}'; expected one of: {', '.join(DESTINATION_TYPES)}"


def suggest_key(loc: tuple[str | int, ...], root: type[BaseModel] = Manifest) -> str | None:
    """The allowed key that an unknown key at `loc` most likely misspells."""
    allowed = _allowed_keys(loc[:-1], root)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_key(loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    message = f"unknown key '{loc[-1]}'"
    suggestion = suggest_key(loc, root)
    if suggestion:
        return f"{message}; did you mean '{suggestion}'?"
    allowed = _allowed_keys(loc[:-1], root)
    if allowed:
        return f"{message}; expected one of: {', '.join(allowed)}"
    return message


def _allowed_keys(loc: tuple[str | int, ...], root: type[BaseModel]) -> list[str]:
    model: type[BaseModel] | None = root
    entries_of: type[BaseModel] | None = None  # the model of a mapping's values, if any
    for part in loc:
        if entries_of is not None:
            model, entries_of = entries_of, None  # `part` is a key the user chose
            continue
        if isinstance(part, str) and part in _TAG_MODELS:
            model = _TAG_MODELS[part]
            continue
        if isinstance(part, int):
            continue
        if model is None:
            return []
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        model, entries_of = _as_model(annotation), _mapping_values_model(annotation)
    return list(model.model_fields) if model and entries_of is None else []


def _as_model(annotation: Any) -> type[BaseModel] | None:
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_model else None


def _mapping_values_model(annotation: Any) -> type[BaseModel] | None:
    """`Environment` for `dict[str, Environment]`: keys chosen by the user, values a model."""
    if typing.get_origin(annotation) is not dict:
        return None
    return _as_model(typing.get_args(annotation)[-1])


def soft_limit_message(kind: str, count: int, limit: int) -> str:
    return (
        f"{count} {kind} exceed the platform's soft limit of {limit} per dataflow; "
        "activation may be slow or refused"
    )
