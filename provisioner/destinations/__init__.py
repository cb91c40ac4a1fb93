"""One module per destination type, behind one small interface (`DestinationTypeOf`).

Everything a destination type is lives in its module: its connection spec and auth spec,
its manifest model (the fields of `destination:`, their patterns and descriptions, which of
them take `${var:}`, the credentials it references), the hints and shown fields of its error
messages, where an account is (the non-secret auth params), the target connection's params,
how it is described, and how a live object is turned back into manifest fields.

Adding a streaming destination is one module here, registered in `ALL`: the manifest
package builds its discriminated union, its JSON Schema and its messages from this registry.
This package sits below `manifest/` and imports only `provisioner.fields` and pydantic.
"""

from __future__ import annotations

from provisioner.destinations.base import DestinationModel, DestinationType, DestinationTypeOf
from provisioner.destinations.eventhubs import EVENT_HUBS
from provisioner.destinations.kinesis import KINESIS

# In the manifest's union and JSON Schema order, and in "expected one of" messages.
ALL: tuple[DestinationType, ...] = (KINESIS, EVENT_HUBS)
_BY_TYPE = {d.type: d for d in ALL}
_BY_SPEC = {d.spec_id: d for d in ALL}


def by_type(name: str) -> DestinationType:
    """The destination type a manifest's `destination.type` names (validated before)."""
    return _BY_TYPE[name]


def by_spec_id(spec_id: str) -> DestinationType | None:
    """The destination type of a live connection, or None for one the tool does not manage."""
    return _BY_SPEC.get(spec_id)


def spec_ids() -> list[str]:
    return [d.spec_id for d in ALL]


def type_names() -> tuple[str, ...]:
    """Every registered `destination.type`, in registry order."""
    return tuple(d.type for d in ALL)


__all__ = [
    "ALL",
    "DestinationModel",
    "DestinationType",
    "DestinationTypeOf",
    "by_spec_id",
    "by_type",
    "spec_ids",
    "type_names",
]
