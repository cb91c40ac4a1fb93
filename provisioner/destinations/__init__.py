"""One module per destination type, behind one small interface (`DestinationType`).

Everything that differs between Amazon Kinesis and Azure Event Hubs lives in that type's
module: its connection spec and auth spec, its manifest model, where an account is (the
non-secret auth params), the target connection's params, how it is described, and how a
live object is turned back into manifest fields. Adding a streaming destination is one
module here, registered in `ALL`.
"""

from __future__ import annotations

from provisioner.destinations.base import DestinationType
from provisioner.destinations.eventhubs import EVENT_HUBS
from provisioner.destinations.kinesis import KINESIS

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


__all__ = ["ALL", "DestinationType", "by_spec_id", "by_type", "spec_ids"]
