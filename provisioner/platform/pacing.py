"""Sending no faster than a metered platform accepts: the rate is learnt from its answers.

A gateway that meters requests (a token bucket: so many a second, after a small burst)
answers the excess with 429. Fewer requests in flight do not help much against it: what it
counts is requests per second. So when 429s keep coming, the pacer measures the rate the
platform accepts and spaces the sends to a little less than that (`MARGIN`, so that its
burst refills). It then probes upward slowly (`PROBE` a second, while the pace is what
holds the sends back), so a quota that grows is found again; a probe past the quota costs
a few refusals before the next cut.

The measure (provisioner.platform.metering): the requests a metered platform accepted
between two of its refusals, a second. Where the sends paused long enough for its bucket
to fill up, that is only a lower bound: a pace set from one probes upward fast (by
`FAST_PROBE` a step), as does one set, after refusals that never told the rate, from the
successes a second of a whole period. A step past the quota shows only once the bucket's
burst is spent, the later the closer the step is to the quota, so a step waits after the
one before (`FAST_HOLD`, longer as the pace climbs): stepping at every quiet period would
climb a second step past the quota before the first one's refusals came.
No cut leaves less than a tenth of the pace.

Not every storm of 429s is metering: a platform may refuse a share of requests whatever
their rate. Pacing to the accepted rate then does not stop the refusals (the same share of
fewer requests is refused), and each cut would only slow the run further. A metered
platform refuses (almost) nothing sent below its quota, so when, after a cut to a measured
rate (or below what was accepted), the requests sent at the new pace are refused about as
often as before (`STILL`), or
refusals go on after two measured cuts in a row, the pacer stops pacing and leaves the run
to the limit on requests in flight for a while (`HOLD`), then looks again.

Answers are weighed in periods of `PERIOD` seconds (longer when few answers came); the
share refused counts only the answers to requests sent at the current pace. A cut comes
as soon as the refusals tell the quota, without waiting for the period's end: a run that
starts by hammering a metered platform, or a probe past its quota, otherwise spends half a
second doing so.

Pure: time is passed in (`now`), so that a test can run a whole apply on a fake clock.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from provisioner.platform.metering import MEASURE_SPAN, Refusals

log = logging.getLogger("provisioner.http")

PERIOD = 0.5  # seconds of answers weighed together
MIN_ANSWERS = 20  # ... and at least this many answers (or QUIET_ANSWERS, none refused)
QUIET_ANSWERS = 5
QUIET = 0.03  # a share of refusals at or below this leaves the pace as it is (or probes up)
MARGIN = 0.95  # the pace after a cut: this share of the accepted rate, so the burst refills
PROBE = 0.02  # the pace grows by this share a second while it holds the sends back
# ... and by this much less past the quota last measured (its burst hides a probe past it
# for a while, and the refusals come all at once), until it has held for FORGET seconds.
PAST_QUOTA = 4
FORGET = 10.0
# ... or, set from a lower bound, by FAST_PROBE a quiet period, at most once in FAST_HOLD
# seconds times the pace over that lower bound (a quota of 100 a second with a burst of 20
# shows a step 10% past it only after two seconds): a lower bound from the reads of a
# plan, which pause, is often far below.
FAST_PROBE = 0.4
FAST_HOLD = 0.9
BLIND_CUT = 0.9  # the cut of a paced period whose refusals cannot tell the accepted rate
DEEPEST_CUT = 0.1  # no cut leaves less of the pace: a measure can be off
EARLY_REFUSALS = 8  # refusals before the first cut, once they tell the rate
PAUSE = 0.1  # seconds without a send (or three paced intervals): the bucket may fill up
PATIENCE = 2.0  # seconds of refusals that tell no rate, before pacing from a lower bound
# Refusals still coming after a measured cut, among at least STILL_ANSWERS answers to
# requests sent at the new pace: at least this share, and this much of the share before.
STILL_ANSWERS = 20
STILL_ANSWERS_BELOW = 10  # ... after a cut below what was accepted: metering would stop
STILL_SHARE = 0.2
STILL = 0.6
PERSISTENT_CUTS = 2  # measured cuts in a row that did not stop the refusals: not metering
HOLD = 30.0  # seconds without pacing after refusals are found not to depend on the rate
MIN_RATE = 0.5  # requests a second: the slowest pace
_HISTORY = 1000  # pace changes kept for inspection


@dataclass
class _Period:
    """The answers weighed together at the next decision."""

    start: float
    sent: int = 0
    last_send: float | None = None
    accepted: int = 0
    refused: int = 0  # 429s to requests sent at the current pace
    current: int = 0  # answers to requests sent at the current pace
    refusals: Refusals = field(default_factory=Refusals)

    def quiet(self) -> bool:
        """Few refusals, or a single one: nothing to act on."""
        return self.refused <= max(1.0, QUIET * self.current)

    def share_refused(self) -> float:
        return self.refused / self.current if self.current else 0.0

    def sent_one(self, now: float, rate: float | None) -> None:
        if self.sent == 0:  # a period counts from its first send, not from idle time
            self.start = now
        pause = PAUSE if rate is None else max(PAUSE, 3.0 / rate)
        if self.last_send is not None and now - self.last_send > pause:
            self.refusals.paused(now)
        self.sent += 1
        self.last_send = now

    def sent_rate(self, now: float) -> float:
        return self.sent / max(now - self.start, MEASURE_SPAN)

    def accepted_rate(self, now: float) -> float:
        return self.accepted / max(now - self.start, MEASURE_SPAN)


class Pacer:
    """The pace of a run's sends (None: unpaced), learnt from the answers. Not thread-safe:
    the limiter calls it under its lock."""

    def __init__(self, start: float) -> None:
        self.rate: float | None = None
        self.round = 0  # pace changes so far: answers are counted against their round
        self.history: deque[float | None] = deque(maxlen=_HISTORY)  # paces set
        self._next_send = float("-inf")
        self._period = _Period(start)
        self._measured_cuts = 0  # in a row, each followed by more refusals
        self._share_at_cut: float | None = None  # refused before the last measured cut
        self._still_answers = STILL_ANSWERS  # answers that tell whether refusals go on
        self._hold_until = float("-inf")
        self._fast_probe: float | None = None  # the next fast probe, after a lower bound
        self._fast_step = float("-inf")  # when the pace last stepped up fast
        self._fast_from: float | None = None  # the lower bound the fast probes started from
        self._quota: float | None = None  # the accepted rate last measured exactly
        self._quiet_since: float | None = None  # the start of the quiet periods in a row

    def next_turn(self, now: float) -> float:
        """Seconds from `now` until the pace lets the next request be sent."""
        return 0.0 if self.rate is None else max(0.0, self._next_send - now)

    def reserve(self, now: float) -> float:
        """Seconds a request about to be sent at `now` must wait for its turn, which is
        then taken."""
        turn = self.next_turn(now)
        self._period.sent_one(now + turn, self.rate)
        if self.rate is not None:
            self._next_send = now + turn + 1.0 / self.rate
        return turn

    def answered(self, now: float, refused: bool, round: int, sent_at: float) -> None:
        """Count one answer (`refused`: a 429) to a request sent at `sent_at`, in pace
        round `round`."""
        period = self._period
        current = round == self.round
        period.refusals.answered(now, refused, sent_at)
        period.accepted += not refused
        period.refused += refused and current
        period.current += current
        if self._refused_still(period):
            self._stop_pacing(now, period)
        elif self._due(now):
            self._decide(now)

    def _refused_still(self, period: _Period) -> bool:
        """Whether the requests sent since a measured cut are refused about as often as
        those before it: the refusals do not depend on the rate."""
        if self._share_at_cut is None or period.current < self._still_answers:
            return False
        return period.share_refused() >= max(STILL_SHARE, STILL * self._share_at_cut)

    def _due(self, now: float) -> bool:
        period = self._period
        # Enough answers to weigh; or, at a slow pace, a while without a refusal.
        enough = period.current >= MIN_ANSWERS or (
            period.refused == 0 and period.current >= QUIET_ANSWERS
        )
        if now - period.start >= PERIOD and enough:
            # Unpaced, refusals that cannot tell the rate yet are left to gather a while.
            told = period.quiet() or period.refusals.measure(now) is not None
            return self.rate is not None or told or now - period.start >= PATIENCE
        # Refused: a cut as soon as the refusals tell the quota.
        return (
            now >= self._hold_until
            and period.refused >= EARLY_REFUSALS
            and period.refusals.measure(now) is not None
        )

    def _decide(self, now: float) -> None:
        period = self._period
        self._period = _Period(now)
        if period.quiet():
            self._measured_cuts, self._share_at_cut = 0, None
            self._grow(period, now)
            return
        self._quiet_since = None
        if now < self._hold_until:
            pass
        elif self._measured_cuts >= PERSISTENT_CUTS:
            self._stop_pacing(now, period)
        else:
            self._cut(period, now)

    def _cut(self, period: _Period, now: float) -> None:
        """Pace to the accepted rate; a tenth slower when the refusals cannot tell it;
        unpaced and after `PATIENCE`, to the period's successes a second."""
        measure = period.refusals.measure(now)
        lower_bound = measure is None or measure.lower_bound
        if measure is not None:
            rate = measure.rate * MARGIN
            why = str(measure)
            self._measured_cuts += 1
            self._share_at_cut = period.share_refused()
        elif self.rate is not None:
            rate = self.rate * BLIND_CUT
            why = "a tenth less: the refusals came too close together to tell the quota"
            lower_bound = False
        else:
            rate = period.accepted_rate(now) * MARGIN
            why = f"{period.accepted} accepted in {now - period.start:.2f} s"
            # Below the quota if there is one: refusals that go on do not depend on the rate.
            self._share_at_cut = period.share_refused()
        if self.rate is not None:  # a cut: never up, and never too deep at once
            rate = min(self.rate, max(rate, self.rate * DEEPEST_CUT))
        self._set(max(MIN_RATE, rate))
        self._fast_probe = FAST_PROBE if lower_bound else None
        self._fast_from = self.rate
        self._still_answers = STILL_ANSWERS_BELOW if lower_bound else STILL_ANSWERS
        self._quota = None if lower_bound or measure is None else measure.rate
        log.info("rate-limited: sending at most %.1f requests a second (%s)", self.rate, why)

    def _grow(self, period: _Period, now: float) -> None:
        """Probe upward, while the pace is what holds the sends back (a pace far above
        what is sent tells nothing of the quota)."""
        if self.rate is None or period.sent_rate(now) < 0.8 * self.rate:
            return
        if self._fast_probe is None:
            self._set(self.rate * (1 + self._probe(period.start, now)) ** (now - period.start))
            return
        if now - self._fast_step >= self._fast_hold():
            self._fast_step = now
            self._set(self.rate * (1 + self._fast_probe))

    def _fast_hold(self) -> float:
        """Seconds a fast step holds before the next: longer the further the pace has
        climbed above the lower bound it started from, since a step past the quota by
        less of it takes longer to spend the burst and be refused."""
        start = self._fast_from or self.rate or 1.0
        return FAST_HOLD * (self.rate or start) / start

    def _probe(self, start: float, now: float) -> float:
        """The share a second to grow by: slower past the quota, unless quiet for long."""
        if self._quiet_since is None:
            self._quiet_since = start
        if now - self._quiet_since >= FORGET:
            self._quota = None
        past = self._quota is not None and self.rate is not None and self.rate >= self._quota
        return PROBE / PAST_QUOTA if past else PROBE

    def _stop_pacing(self, now: float, period: _Period) -> None:
        self._period = _Period(now)
        self._measured_cuts, self._share_at_cut = 0, None
        self._hold_until = now + HOLD
        self._set(None)
        log.info(
            "%.0f%% of requests refused whatever their rate: not pacing them for %.0f s",
            period.share_refused() * 100,
            HOLD,
        )

    def _set(self, rate: float | None) -> None:
        self.rate = rate
        self.round += 1
        self.history.append(rate)
        if rate is None:
            self._next_send = float("-inf")
