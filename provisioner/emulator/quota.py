"""A request quota per client, as an API gateway meters a platform: a token bucket each.

A client's bucket holds at most `burst` tokens and refills at `rate` tokens a second; a
request takes one, and one that finds none is refused with 429 and a `Retry-After` of the
whole seconds (at least 1) until a token is back. Refused requests take nothing, so a
client that waits as told is served. The quota is checked before the request does any work
(`serve --quota-rps N --quota-burst B`, `EmulatorConfig.quota_rps`), and it counts what it
accepted and refused, per client, for the emulator's statistics.

The clock is injectable: tests step a fake one instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Clients whose buckets are kept at most; beyond it, full buckets (no different from a new
# one) are forgotten, so made-up client ids cannot grow the emulator's memory without end.
MAX_CLIENTS = 10_000
# Float sums can land a hair above a whole number of seconds: that is not another second.
_ROUNDING_SLACK = 1e-9


@dataclass
class _Bucket:
    tokens: float
    at: float  # when `tokens` was last brought up to date


class Quota:
    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        number = isinstance(rate, int | float) and not isinstance(rate, bool)
        if not (number and math.isfinite(rate) and rate > 0):
            raise ValueError(f"the quota's rate must be a positive number of requests/s: {rate!r}")
        burst = max(1, math.ceil(rate)) if burst is None else burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"the quota's burst must be a whole number of at least 1: {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, client: str) -> int | None:
        """Takes a token of `client`'s bucket: None when there was one, else the whole
        seconds to wait (at least 1) until there is."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(client, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                self.accepted[client] += 1
                return None
            self.refused[client] += 1
            wait = (1 - bucket.tokens) / self.rate
            return max(1, math.ceil(wait - _ROUNDING_SLACK))

    def _bucket(self, client: str, now: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_CLIENTS:
                self._forget_full(now)
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        return bucket

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate  # seconds for an empty bucket to fill
        self._buckets = {
            client: bucket
            for client, bucket in self._buckets.items()
            if now - bucket.at < refill and bucket.tokens < self.burst
        }

    def snapshot(self) -> dict[str, Any]:
        """The settings, and what was accepted and refused since the last reset: in all and
        per client."""
        with self._lock:
            clients = sorted(set(self.accepted) | set(self.refused))
            return {
                "rps": self.rate,
                "burst": self.burst,
                "accepted": sum(self.accepted.values()),
                "refused": sum(self.refused.values()),
                "clients": {
                    client: {"accepted": self.accepted[client], "refused": self.refused[client]}
                    for client in clients
                },
            }

    def reset_counts(self) -> None:
        """Counts from zero; the buckets keep their tokens."""
        with self._lock:
            self.accepted.clear()
            self.refused.clear()
