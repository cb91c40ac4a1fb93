"""A destination type is one module in `provisioner/destinations/`, registered in `ALL`.

The manifest package builds its union, JSON Schema, messages and `${var:}` fields from the
registry; no other module of the tool names a type or one of its fields, except where listed
below with the reason.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from provisioner import destinations
from provisioner.destinations import DestinationType
from provisioner.fields.secrets import SecretRef
from provisioner.manifest import Manifest, manifest_json_schema
from provisioner.manifest.messages import describe
from provisioner.manifest.model import VARIABLE_FIELDS_HINT
from provisioner.manifest.variables import TEMPLATED_FIELDS

PACKAGE = Path(__file__).parent.parent / "provisioner"
SHARED_FIELDS = ("type", "account", "credentials")

TYPES = pytest.mark.parametrize("kind", destinations.ALL, ids=lambda kind: kind.type)


def own_fields(kind: DestinationType) -> list[str]:
    return [name for name in kind.manifest_model.model_fields if name not in SHARED_FIELDS]


def credentials_model(kind: DestinationType) -> type[BaseModel]:
    annotation = kind.manifest_model.model_fields["credentials"].annotation
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation


@TYPES
def test_every_type_supplies_a_manifest_model_tagged_with_its_type(kind: DestinationType) -> None:
    model = kind.manifest_model
    assert issubclass(model, BaseModel)
    tag = model.model_fields["type"].annotation
    assert typing.get_origin(tag) is typing.Literal and typing.get_args(tag) == (kind.type,)
    assert set(SHARED_FIELDS) <= set(model.model_fields)
    assert not model.model_fields["account"].is_required()
    assert tuple(credentials_model(kind).model_fields) == kind.credential_keys
    for name, field in credentials_model(kind).model_fields.items():
        assert field.annotation is SecretRef, f"{kind.type} credential {name} is not a reference"


@TYPES
def test_every_type_describes_its_own_fields_for_messages(kind: DestinationType) -> None:
    fields = set(own_fields(kind))
    assert set(kind.pattern_hints) <= fields
    assert kind.shown_fields <= fields
    assert set(kind.variable_fields) <= {"account", *fields}
    assert "credentials" not in kind.shown_fields


@TYPES
def test_account_settings_are_type_place_and_credential_references(kind: DestinationType) -> None:
    references = {key: f"${{env:{key.upper()}}}" for key in kind.credential_keys}
    values: dict[str, Any] = {field: f"{field}-value" for field in own_fields(kind)}
    values["credentials"] = credentials_model(kind).model_validate(references)
    # Built without validation: the fields' own formats are not what is tested here.
    destination = kind.manifest_model.model_construct(type=kind.type, **values)
    settings = kind.account_settings(destination)
    place = kind.place(destination)
    assert place and all(value.endswith("-value") for value in place.values())
    assert settings == {
        "type": kind.type,
        **place,
        **{f"credentials.{key}": ref for key, ref in references.items()},
    }


def test_the_manifest_schema_lists_exactly_the_registered_types() -> None:
    schema = manifest_json_schema()
    union = schema["properties"]["destination"]
    members = [ref["$ref"].removeprefix("#/$defs/") for ref in union["oneOf"]]
    assert members == [kind.manifest_model.__name__ for kind in destinations.ALL]
    assert union["discriminator"]["mapping"] == {
        kind.type: f"#/$defs/{kind.manifest_model.__name__}" for kind in destinations.ALL
    }
    tags = [schema["$defs"][name]["properties"]["type"]["const"] for name in members]
    assert tags == list(destinations.type_names())


def test_an_unknown_type_is_refused_naming_every_registered_type() -> None:
    data = {"version": 1, "name": "orders", "destination": {"type": "carrier-pigeon"}}
    with pytest.raises(ValidationError) as raised:
        Manifest.model_validate(data)
    expected = ", ".join(destinations.type_names())
    assert [describe(error) for error in raised.value.errors()] == [
        f"unknown destination type 'carrier-pigeon'; expected one of: {expected}"
    ]


def test_the_fields_that_take_variables_come_from_the_registry() -> None:
    registered = [field for kind in destinations.ALL for field in kind.variable_fields]
    assert (
        ("description",),
        *(("destination", field) for field in dict.fromkeys(registered)),
    ) == TEMPLATED_FIELDS
    assert VARIABLE_FIELDS_HINT.startswith("description and destination's account, ")
    assert all(field in VARIABLE_FIELDS_HINT for field in registered)


# What names a destination type or one of its fields. Type names, model names and field
# names are read from the registry, so a new type's are looked for too.
def _type_words() -> list[str]:
    words = {*destinations.type_names()}
    for kind in destinations.ALL:
        words |= {kind.manifest_model.__name__, credentials_model(kind).__name__}
    return sorted(words)


def _field_patterns() -> list[str]:
    fields = sorted({field for kind in destinations.ALL for field in own_fields(kind)})
    alternatives = "|".join(map(re.escape, fields))
    # As a key (`"region"`) or read off a destination (`destination.region`).
    return [f"[\"']({alternatives})[\"']", f"destination\\.({alternatives})\\b"]


PATTERNS = [
    *(re.escape(word) for word in _type_words()),
    *_field_patterns(),
    r"\beventHub\w*",  # the event hub field and target param, in any form
    r"(?i)\bkinesis\b",  # the products by name, in code or prose
    r"(?i)\bevent ?hubs?\b",
]

# Folders that legitimately know every type: each is a separate world.
EXEMPT_FOLDERS = {
    "destinations/": "the types themselves",
    "emulator/": "a separate fake platform: its catalogue serves the connection specs of the "
    "types the real platform has, whether or not the tool registers them",
}
# (file, the text found): each with why it stays. A listed exception that no longer occurs
# fails the test too, so this list only shrinks with the code.
EXCEPTIONS = {
    ("plan/model.py", "amazon-kinesis"): "an example in a field description; changing it "
    "changes schemas/plan.schema.json",
    ("plan/model.py", "kinesis"): "as above",
    ("cli/group.py", "Kinesis"): "the command's help text names the products for people",
    ("cli/group.py", "Event Hubs"): "as above",
    ("cli/problem_formats.py", '"region"'): "SARIF's `region` (a span of a file), not the "
    "AWS region",
    ("state/marker.py", "kinesis"): "an example account name (marketing-kinesis) in a docstring",
}


# A type's check against the destination itself is one module per type, named after it,
# imported by name only when `provisioner check` runs (it needs the type's cloud SDK).
PER_TYPE_MODULES = tuple(
    "preflight/" + name.replace("-", "_") for name in destinations.type_names()
)


def _source_files() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith((*EXEMPT_FOLDERS, *PER_TYPE_MODULES)):
            yield relative, path.read_text(encoding="utf-8")


def _mentions() -> set[tuple[str, str]]:
    found = set()
    for relative, text in _source_files():
        for pattern in PATTERNS:
            for match in re.finditer(pattern, text):
                found.add((relative, match.group()))
    return found


def test_no_module_outside_destinations_names_a_type_or_its_fields() -> None:
    mentions = _mentions()
    unexplained = sorted(mentions - EXCEPTIONS.keys())
    assert unexplained == [], "a type's knowledge outside its module: " + repr(unexplained)
    stale = sorted(EXCEPTIONS.keys() - mentions)
    assert stale == [], "exceptions that no longer occur: " + repr(stale)


def test_the_scan_finds_a_type_named_outside_its_module() -> None:
    """The scan would see a leak: the patterns match what the old code held."""
    leaks = [
        'if isinstance(destination, KinesisDestination): settings["region"] = 1',
        "TEMPLATED = (('destination', 'eventHub'),)",
        'hints = {"stream": "is not a stream name"}',
        "DESTINATION_TYPES = ('amazon-kinesis', 'azure-event-hubs')",
    ]
    for leak in leaks:
        assert any(re.search(pattern, leak) for pattern in PATTERNS), leak
