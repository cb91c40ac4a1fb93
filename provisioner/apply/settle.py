"""Two applies at once, and writes no document shows.

Create-then-settle: after creating an object that must be unique for its key (an
account, a target connection, a dataflow), an apply lists the objects of that key and
keeps the oldest (creation time, then id), deleting its own copy if it is not that one.
Every apply racing on the key makes the same choice, so all of them end on one object
and none deletes another's keeper. (A platform-side lease would need a lock object the
Flow Service does not have.)

Undocumented writes (the drift digest on a target connection's description) are best
effort: when the platform refuses one, the apply goes on, the rest of the run stops
trying, and one note says what a later plan can no longer tell.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from provisioner.errors import PlatformError
from provisioner.platform.client import PlatformClient
from provisioner.state.managed import oldest_first

Resource = dict[str, Any]
log = logging.getLogger("provisioner.apply")

_CONSEQUENCES = {
    "record": (
        "the applied state could not be recorded on target connections (the platform "
        "refused a write no document shows), so a later plan shows changes made outside "
        "provisioner as changes, without the drift label"
    ),
    "mark": (
        "the dataflow's target connection could not be marked (the platform refused a "
        "write no document shows); the dataflow is found through its account and its name "
        "instead, so renaming it in the AEP UI makes it unknown to provisioner"
    ),
}


def settle(
    client: PlatformClient,
    kind: str,
    own_id: str,
    find: Callable[[], list[Resource]],
    what: str,
) -> Resource | None:
    """The object to use instead of `own_id` when an older one of the same key exists
    (after deleting ours), else None: ours is the one."""
    copies = oldest_first(find())
    if not copies or copies[0]["id"] == own_id or own_id not in {c["id"] for c in copies}:
        return None
    keeper = copies[0]
    log.info("%s: another apply made %s first; deleting ours (%s)", what, keeper["id"], own_id)
    client.delete(kind, own_id, f"delete the duplicate {what} this apply made")
    return keeper


class Undocumented:
    """Best-effort writes of one run: tried until the platform first refuses one."""

    def __init__(self) -> None:
        self._refused: dict[str, str] = {}
        self._lock = threading.Lock()

    def allowed(self, kind: str) -> bool:
        with self._lock:
            return kind not in self._refused

    def refused(self, kind: str, error: PlatformError) -> None:
        log.info("best-effort write refused: %s", error)  # the run says it once, as a note
        with self._lock:
            self._refused.setdefault(kind, str(error))

    @property
    def notes(self) -> list[str]:
        with self._lock:
            return [
                f"{_CONSEQUENCES[kind]} ({reason.splitlines()[0]})"
                for kind, reason in self._refused.items()
            ]
