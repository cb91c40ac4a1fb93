"""What a metered platform's refusals tell of its quota.

A gateway that meters requests with a token bucket refuses one only when the bucket is
empty. So between two refused requests the bucket was empty at both ends, and whatever it
accepted in between is exactly what refilled it: the quota, times the time between them,
however many requests were sent or held back meanwhile.

The times are the requests' send times, not their answers': a gateway answers a refusal at
once but a success only once the platform has done the work, so the answers of what it
accepted a moment before a refusal arrive after it (at the start of a run: the whole burst
it held). A window starts at a refusal of a request sent after the first refusal came back
(what was sent before may reach the gateway in another order, the burst among it), and
ends only at a refusal sent long enough ago (the slowest success seen) that every success
sent before it has been answered.

One exception: when nothing was sent for a while (every request waiting out a Retry-After),
the bucket filled up and what it could not hold was lost. A window over such a pause
measures less than the quota: only a lower bound. So windows are taken between pauses where
they can tell, and across them only as a lower bound.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

# A window tells the rate when it is at least this long and holds this many successes.
MEASURE_SPAN = 0.1
MEASURE_SUCCESSES = 6


@dataclass(frozen=True)
class Measured:
    rate: float  # successes a second
    successes: int
    span: float  # seconds
    lower_bound: bool  # the sends paused within it: the quota may be higher

    def __str__(self) -> str:
        bound = ", at least" if self.lower_bound else ""
        return f"{self.successes} accepted in {self.span:.2f} s between refusals{bound}"


@dataclass
class Refusals:
    """The send times of refused and accepted requests, and of sends after a pause."""

    first_answer: float | None = None  # when the first refusal came back
    refused: list[float] = field(default_factory=list)  # sent after it; sorted
    accepted: list[float] = field(default_factory=list)  # sorted
    pauses: list[float] = field(default_factory=list)  # sorted
    slowest: float = 0.0  # seconds: the longest an accepted request took to be answered

    def answered(self, now: float, refused: bool, sent_at: float) -> None:
        if refused:
            if self.first_answer is None:
                self.first_answer = now
            elif sent_at >= self.first_answer:
                bisect.insort(self.refused, sent_at)
            return
        bisect.insort(self.accepted, sent_at)
        self.slowest = max(self.slowest, now - sent_at)

    def paused(self, at: float) -> None:
        """A request sent at `at`, after nothing had been sent for a while."""
        bisect.insort(self.pauses, at)

    def measure(self, now: float) -> Measured | None:
        """The accepted rate: over the window between pauses of the most successes, else
        (a lower bound) across them; None when no window can tell yet."""
        ends = self.refused[: bisect.bisect_right(self.refused, now - self.slowest)]
        bounds = [float("-inf"), *self.pauses, float("inf")]
        windows = []
        for low, high in itertools.pairwise(bounds):
            inside = ends[bisect.bisect_left(ends, low) : bisect.bisect_left(ends, high)]
            if len(inside) >= 2:
                windows.append(self._window(inside[0], inside[-1], lower_bound=False))
        told = [w for w in windows if w is not None]
        if told:
            return max(told, key=lambda w: w.successes)
        return self._window(ends[0], ends[-1], lower_bound=True) if len(ends) >= 2 else None

    def _window(self, first: float, last: float, lower_bound: bool) -> Measured | None:
        span = last - first
        successes = bisect.bisect_right(self.accepted, last) - bisect.bisect_right(
            self.accepted, first
        )
        if span < MEASURE_SPAN or successes < MEASURE_SUCCESSES:
            return None
        return Measured(successes / span, successes, span, lower_bound)
