"""The marker the tool leaves on what it creates, so the platform alone is its state.

Connections that only the tool uses carry it in their `description`:

    managed by provisioner v3; project=marketing; env=dev; dataflow=Summer%3B EU
    managed by provisioner v3; project=marketing; env=dev; account=marketing-kinesis;
        fingerprint=9c1e…; flow.5c1f…=orders-eu
    managed by provisioner v3; profile

Values are percent-encoded (`%`, `;`, `=` and every character that is not printable), so
any name reads back as exactly itself, whatever it holds. `v2` markers (the previous
release) have the same syntax without `env=` and without the ledger; round 1 wrote the
same fields unencoded and without a version; both are still read (`read_marker` undoes
round 1's one ambiguity, a name holding "; ").

What each marker proves is decided in `state/managed.py`: a target connection's marker is
written once, when the tool creates it (no document shows a later write to it); an
account's marker is rewritten through documented writes, so it also holds the ledger:
`flow.<id>=NAME` for each dataflow the tool imported or renamed on that account, the name
the tool last gave it. `project=` is absent for the "default" project, `env=` when the run
selected no environment (and on every `v2` marker, which then matches any environment).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

MARKER = "managed by provisioner"
VERSION = "v3"
_READ_VERSIONS = ("v2", "v3")
DEFAULT_PROJECT = "default"
LEDGER_PREFIX = "flow."
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
    for version in _READ_VERSIONS:
        if rest.startswith(f" {version};") or rest == f" {version}":
            return _read_fields(rest[len(version) + 1 :])
    if rest and not rest.startswith(";"):
        return None  # "managed by provisioners…": someone else's words
    return _read_round1(rest)


def marker_version(resource: dict[str, Any]) -> int:
    """3 for a marker this release writes, 2 for the previous release's, 1 for round 1's,
    0 for none."""
    if read_marker(resource) is None:
        return 0
    rest = str(resource["description"])[len(MARKER) :]
    for number, version in enumerate(_READ_VERSIONS, start=2):
        if rest.startswith(f" {version};") or rest == f" {version}":
            return number
    return 1


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


def env_of(fields: dict[str, str]) -> str | None:
    """The environment the marker records; None when it records none."""
    return fields.get("env") or None


def scope_fields(project: str, env: str | None) -> dict[str, str]:
    """The marker's scope: `project=` unless "default" (as every release wrote it), and
    `env=` when the run selected an environment."""
    found = {} if project == DEFAULT_PROJECT else {"project": project}
    return found | ({"env": env} if env else {})


def ledger_of(fields: dict[str, str]) -> dict[str, str]:
    """Flow id -> the name the tool last gave that dataflow, from an account's marker."""
    return {
        unquote(key[len(LEDGER_PREFIX) :]): value
        for key, value in fields.items()
        if key.startswith(LEDGER_PREFIX) and len(key) > len(LEDGER_PREFIX)
    }


def ledger_fields(ledger: dict[str, str]) -> dict[str, str]:
    """The ledger as marker fields, in a stable order."""
    return {LEDGER_PREFIX + encode(flow_id): ledger[flow_id] for flow_id in sorted(ledger)}
