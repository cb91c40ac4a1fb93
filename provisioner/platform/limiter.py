"""One limit on the requests a run has in flight, shared by every thread, that adapts.

The platform documents no rate limit, so the tool learns it: the limit starts at
`--concurrency` and is cut when the platform answers 429 or a server error (once per round:
the answers to requests sent before the last cut do not cut again), then grows back by one
after as many successes in a row as half the limit (additive increase, multiplicative
decrease, as TCP does). How deep it cuts depends on what the platform said:

- a server error (or a 429 that does not say when to come back) is a platform failing
  under load: cut by a quarter, down to half of `--concurrency`;
- a 429 with a `Retry-After` is a platform metering requests: that request waits what it
  was told (sending nothing meanwhile), and the rest ease off by an eighth, down to three
  quarters of `--concurrency`.

The floors are there because a platform's 429s come in bursts and at random: halving on
each would leave one request in flight for a whole storm, and a run that crawls helps no
one.

A request answered 429 waits its own `Retry-After` (the retry policy honours it). A long
`Retry-After` (`PAUSE_EVERYONE_FROM` seconds or more: the platform wants quiet) pauses
every thread: no request of the run is sent before the moment the platform asked for.

A platform that meters requests a second is not helped by fewer in flight: when its 429s
persist, a `Pacer` (provisioner.platform.pacing) learns the rate it accepts and spaces the
sends to it, on top of the limit on requests in flight.

Time is `clock` and waiting is `sleep` (both injectable); waiting for a free slot is a
condition variable, woken by whoever frees one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from provisioner.platform.pacing import Pacer

log = logging.getLogger("provisioner.http")

OVERLOADED = frozenset({429})  # and every status >= 500
PAUSE_STATUSES = frozenset({429, 503})  # whose long Retry-After holds every thread
PAUSE_EVERYONE_FROM = 5.0  # seconds: a Retry-After this long pauses the whole run
_SLOT_WAIT = 1.0  # seconds between checks of the budget while waiting for a free slot
_HISTORY = 1000  # limit changes kept for inspection


def overloaded(status: int) -> bool:
    """An answer that says the platform is overloaded: slow everyone down."""
    return status in OVERLOADED or status >= 500


@dataclass(frozen=True)
class Slot:
    """One request in flight; `round` is how many cuts the limit had when it was sent,
    `pace_round` how many changes its pace had, `sent_at` when (the limiter's clock)."""

    round: int
    pace_round: int = 0
    sent_at: float = 0.0


class Paused(Exception):
    """No slot within the caller's budget: a pause (Retry-After) outlasts it, or the
    requests in flight did not finish in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"paused for {seconds:g} s")
        self.seconds = seconds


class RequestLimiter:
    """An adaptive limit on requests in flight (AIMD) and a pause all threads keep."""

    def __init__(
        self,
        ceiling: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, self.ceiling // 2)
        self.metered_floor = max(1, self.ceiling * 3 // 4)
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()
        self._limit = self.ceiling
        self._in_flight = 0
        self._round = 0
        self._successes = 0
        self._paused_until = float("-inf")
        self._pauser: object = None  # who asked for the pause: it waits by itself
        self.pacer = Pacer(clock())
        self.history: deque[int] = deque([self.ceiling], maxlen=_HISTORY)

    @property
    def limit(self) -> int:
        with self._changed:
            return self._limit

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def acquire(self, budget: float, who: object = None) -> Slot:
        """A slot, once no pause holds, fewer than the limit are in flight and the pace (if
        any) has come to this request's turn.

        Raises `Paused` when a pause (or the pace) outlasts `budget` (seconds the caller may
        wait); `who` is excused from a pause it asked for (its own backoff already waits it
        out).
        """
        spent = 0.0
        while True:
            with self._changed:
                pause = self._paused_until - self._clock()
                excused = who is not None and self._pauser is who
                if pause <= 0 or excused:
                    if self._in_flight < self._limit:
                        slot, turn = self._take(budget - spent)
                        break
                    if spent >= budget:
                        raise Paused(spent)
                    # A free slot is signalled by release(); real time passes meanwhile.
                    started = time.monotonic()
                    self._changed.wait(min(_SLOT_WAIT, budget - spent))
                    spent += time.monotonic() - started
                    continue
            if spent + pause > budget:
                raise Paused(pause)
            log.debug("all requests paused: %.2f s left", pause)
            self._sleep(pause)
            spent += pause
        if turn > 0:
            self._wait_turn(slot, turn)
        return slot

    def _take(self, budget: float) -> tuple[Slot, float]:
        """A slot and the seconds until the pace lets it be sent (the lock is held)."""
        now = self._clock()
        turn = self.pacer.next_turn(now)
        if turn > budget:
            raise Paused(turn)
        self._in_flight += 1
        turn = self.pacer.reserve(now)
        return Slot(self._round, self.pacer.round, now + turn), turn

    def _wait_turn(self, slot: Slot, seconds: float) -> None:
        """Wait for a paced request's turn, holding its slot (given back if interrupted)."""
        try:
            self._sleep(seconds)
        except BaseException:
            self.release(slot)
            raise

    def release(self, slot: Slot) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify()

    def observe(
        self, status: int, retry_after: float | None, slot: Slot | None, who: object = None
    ) -> None:
        """Learn from one answer: cut the limit, pause everyone, or count a success."""
        with self._changed:
            long_pause = retry_after is not None and retry_after >= PAUSE_EVERYONE_FROM
            if long_pause and retry_after is not None and status in PAUSE_STATUSES:
                until = self._clock() + retry_after
                if until > self._paused_until:
                    self._paused_until, self._pauser = until, who
                    log.info("rate-limited (%d): every request waits %.2f s", status, retry_after)
            if overloaded(status):
                self._cut(status, slot, metered=status == 429 and retry_after is not None)
            else:
                self._succeeded()
            if slot is not None and (status == 429 or not overloaded(status)):
                self.pacer.answered(self._clock(), status == 429, slot.pace_round, slot.sent_at)

    def _cut(self, status: int, slot: Slot | None, metered: bool) -> None:
        self._successes = 0
        if slot is not None and slot.round != self._round:
            return  # sent before the last cut: that cut already answered this overload
        self._round += 1
        floor, kept = (self.metered_floor, 7 / 8) if metered else (self.floor, 3 / 4)
        if self._limit > floor:
            self._limit = max(floor, int(self._limit * kept))
            self.history.append(self._limit)
            log.info("platform overloaded (%d): at most %d requests in flight", status, self._limit)

    def _succeeded(self) -> None:
        if self._limit >= self.ceiling:
            return
        self._successes += 1
        if self._successes >= max(1, self._limit // 2):
            self._successes = 0
            self._limit += 1
            self.history.append(self._limit)
            self._changed.notify_all()
            log.debug("at most %d requests in flight", self._limit)
