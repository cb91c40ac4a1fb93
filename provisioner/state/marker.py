"""The marker the tool leaves on what it creates, so the platform alone is its state.

Connections that only the tool uses carry it in their `description`:

    managed by provisioner; dataflow=summer-campaign; applied=3f2a…
    managed by provisioner; account=marketing-kinesis; fingerprint=9c1e…
    managed by provisioner; profile

A dataflow is the tool's when its target connection carries `dataflow=NAME`; NAME is the
manifest's key, so a flow renamed in the AEP UI is still found, and renamed back. The
flow's own description belongs to the user and carries nothing.
"""

from __future__ import annotations

from typing import Any

MARKER = "managed by provisioner"
PROFILE_BASE_NAME = "provisioner profile"
PROFILE_SOURCE_NAME = "provisioner profile source"


def marker(**fields: str) -> str:
    """`managed by provisioner; key=value; …` (a bare word when the value is empty)."""
    parts = [MARKER] + [f"{k}={v}" if v else k for k, v in fields.items()]
    return "; ".join(parts)


def read_marker(resource: dict[str, Any]) -> dict[str, str] | None:
    """The marker's fields, or None when the resource is not the tool's."""
    description = resource.get("description")
    if not isinstance(description, str) or not description.startswith(MARKER):
        return None
    fields: dict[str, str] = {}
    for part in description[len(MARKER) :].split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            fields[key] = value
    return fields
