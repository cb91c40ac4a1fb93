"""The marker the tool leaves on what it creates, so the platform alone is its state.

Connections that only the tool uses carry it in their `description`:

    managed by provisioner v2; dataflow=Summer%3B EU; applied=3f2a…
    managed by provisioner v2; project=marketing; account=marketing-kinesis; fingerprint=9c1e…
    managed by provisioner v2; profile

Values are percent-encoded (`%`, `;`, `=` and every character that is not printable), so
any name reads back as exactly itself, whatever it holds. Round 1 wrote the same fields
unencoded and without `v2`; those are still read (`read_marker` undoes their one
ambiguity, a name holding "; ").

A dataflow is the tool's when its target connection carries `dataflow=NAME`; NAME is the
manifest's key, so a flow renamed in the AEP UI is still found, and renamed back. The
project a dataflow belongs to is its account's (`project=`, absent meaning "default"):
accounts take documented writes to their description, target connections do not.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

MARKER = "managed by provisioner"
VERSION = "v2"
DEFAULT_PROJECT = "default"
PROFILE_BASE_NAME = "provisioner profile"
PROFILE_SOURCE_NAME = "provisioner profile source"
# Printable ASCII that cannot be confused with the marker's own syntax stays as it is.
_SAFE = "".join(c for c in map(chr, range(0x20, 0x7F)) if c not in "%;=" and not c.isalnum())
_ROUND1_APPLIED = re.compile(r"^(?P<name>.*); applied=(?P<digest>[0-9a-f]{16})$", re.S)


def encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def marker(**fields: str) -> str:
    """`managed by provisioner v2; key=value; …` (a bare word when the value is empty)."""
    parts = [f"{MARKER} {VERSION}"]
    parts += [f"{k}={encode(v)}" if v else k for k, v in fields.items()]
    return "; ".join(parts)


def read_marker(resource: dict[str, Any]) -> dict[str, str] | None:
    """The marker's fields, or None when the resource is not the tool's."""
    description = resource.get("description")
    if not isinstance(description, str) or not description.startswith(MARKER):
        return None
    rest = description[len(MARKER) :]
    if rest.startswith(f" {VERSION};") or rest == f" {VERSION}":
        return _read_fields(rest[len(VERSION) + 1 :])
    if rest and not rest.startswith(";"):
        return None  # "managed by provisioners…": someone else's words
    return _read_round1(rest)


def _read_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(";"):
        # Only the separator's space goes: a value's own spaces, even at its end, are its.
        key, _, value = part.lstrip().partition("=")
        if key.strip():
            fields[key.strip()] = unquote(value)
    return fields


def _read_round1(text: str) -> dict[str, str]:
    """Round 1 wrote `dataflow=NAME` raw, last but for `applied=`: the name is the rest."""
    head, found, name = text.partition("; dataflow=")
    fields = {
        key: value for key, _, value in (p.strip().partition("=") for p in head.split(";")) if key
    }
    if found:
        match = _ROUND1_APPLIED.match(name)
        fields["dataflow"] = match["name"] if match else name
        if match:
            fields["applied"] = match["digest"]
    return fields


def project_of(fields: dict[str, str]) -> str:
    return fields.get("project") or DEFAULT_PROJECT
