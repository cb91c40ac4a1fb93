"""What an emulator counts of the platform requests it answers (its admin endpoints' own
requests are not counted): requests by method, in all, and those about one Flow Service
object; and, once asked for, how many it answered at once (`inflight.py`).

Measuring requests in flight takes a lock twice per request, so it starts only when a
benchmark asks for it, with its first `POST /emulator/stats/reset`; until then the
statistics report it as not measured (`null`).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from provisioner.emulator.catalog import FLOW_SERVICE_PATH
from provisioner.emulator.inflight import InFlight


class RequestStats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.in_flight: InFlight | None = None  # None: not measured
        self._lock = threading.Lock()

    def count(self, method: str, path: str) -> int:
        """Counts one request; returns its number since the last reset (1 for the first)."""
        with self._lock:
            self.requests[method] += 1
            self.requests["total"] += 1
            if names_one_object(path):
                self.requests["one object"] += 1  # what a run spends per dataflow, not lists
            return self.requests["total"]

    def reset(self) -> None:
        """Starts a new window: counts from zero, and requests in flight measured from now."""
        with self._lock:
            self.requests.clear()
        if self.in_flight is None:
            self.in_flight = InFlight()
        else:
            self.in_flight.reset()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = dict(self.requests)
        in_flight = self.in_flight.snapshot() if self.in_flight is not None else None
        return {"requests": requests, "in_flight": in_flight}


def names_one_object(path: str) -> bool:
    """`/flows/ID`, `/flows/ID/action`: a request about one Flow Service object."""
    if not path.startswith(FLOW_SERVICE_PATH + "/"):
        return False
    return len(path.removeprefix(FLOW_SERVICE_PATH).strip("/").split("/")) >= 2
