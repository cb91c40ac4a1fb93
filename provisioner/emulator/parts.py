"""The parts of one emulator, which the route table's handlers are given: its data, what it
knows of each service, its switches, and its testing tools (faults, statistics, quota)."""

from __future__ import annotations

import time
from collections.abc import Callable

from provisioner.emulator.audiences import Audiences
from provisioner.emulator.config import EmulatorConfig
from provisioner.emulator.faults import Faults
from provisioner.emulator.ims import Tokens
from provisioner.emulator.quota import Quota
from provisioner.emulator.resources import Resources
from provisioner.emulator.runs import Runs
from provisioner.emulator.sandboxes import Sandboxes
from provisioner.emulator.stats import RequestStats
from provisioner.emulator.store import Store


class Parts:
    def __init__(
        self,
        store: Store | None = None,
        config: EmulatorConfig | None = None,
        faults: Faults | None = None,
        quota_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store or Store()
        self.config = config or EmulatorConfig()
        self.faults = faults or Faults()
        self.resources = Resources(self.store, self.config.record_clients, self.config.recorded_as)
        self.audiences = Audiences(self.store)
        self.sandboxes = Sandboxes(self.store)
        self.runs = Runs(self.store, self.audiences, self.config.record_clients)
        self.tokens = Tokens(self.store, self.config)
        self.stats = RequestStats()
        self.quota_clock = quota_clock
        self.quota: Quota | None = None  # None: no quota, nothing metered
        if self.config.quota_rps is not None:
            self.set_quota(self.config.quota_rps, self.config.quota_burst)

    def set_quota(self, rps: float | None, burst: int | None = None) -> None:
        """Meter each client at `rps` requests a second (None: stop metering); a new quota
        starts every client with a full bucket. ValueError for a rate or burst out of range."""
        self.quota = None if rps is None else Quota(rps, burst, self.quota_clock)

    def sandbox_names(self) -> list[str]:
        """Every sandbox that exists, sorted."""
        return sorted(self.config.sandboxes | self.sandboxes.names())
