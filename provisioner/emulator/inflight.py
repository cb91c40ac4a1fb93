"""How many requests the emulator answers at once, integrated over time.

A client that keeps 12 requests in flight against a platform with 50 ms of latency goes 12
times faster than one that sends them one by one; counting requests cannot show that, so
the emulator measures it. `request_seconds` is the time-integral of the in-flight count
(equal to the sum of every request's duration); divided by a window's wall time it is the
average number of requests in flight over that window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class InFlight:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._current = 0
        self._peak = 0
        self._area = 0.0  # request-seconds since the last reset
        self._since = self._last = clock()

    def _advance(self, now: float) -> None:
        self._area += self._current * (now - self._last)
        self._last = now

    @contextmanager
    def tracking(self) -> Iterator[None]:
        """Counts one request in flight for the duration of the block."""
        with self._lock:
            self._advance(self._clock())
            self._current += 1
            self._peak = max(self._peak, self._current)
        try:
            yield
        finally:
            with self._lock:
                self._advance(self._clock())
                self._current -= 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            self._advance(now)
            window = now - self._since
            return {
                "current": self._current,
                "peak": self._peak,
                "request_seconds": self._area,
                "window_seconds": window,
                "average": self._area / window if window > 0 else 0.0,
            }

    def reset(self) -> None:
        """Starts a new window; requests still in flight count on from now."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            self._area = 0.0
            self._since = now
            self._peak = self._current
