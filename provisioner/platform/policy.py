"""How long and how often the tool tries: the retry policy, the request deadline, and what
an answer's `Retry-After` asks for."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from provisioner.errors import TargetError

RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEADLINE_VARIABLE = "PROVISIONER_REQUEST_DEADLINE"
# A 429 whose Retry-After asks for at least this many seconds is a platform metering
# requests: waiting it out is progress, so it spends none of the request's attempts (only
# its deadline bounds it). A shorter one (0, or a date already past) would let a platform
# that keeps answering so be asked again at once, over and over.
METERED_FROM = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    # A 429 says "later", not "broken": a storm of them is outlasted, within the deadline.
    # None: a 429 that says when to come back (METERED_FROM) spends no attempt, and one
    # that does not gets twice `attempts`; a number: any 429 gets that many.
    rate_limited_attempts: int | None = None
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_elapsed: float = 120.0  # the default deadline of one request, retries included

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The platform's `Retry-After` when it gives one (with a tenth of jitter, so that
        requests it held together do not come back together); else exponential backoff
        with full jitter. A platform that says when is believed: backing off further on
        each of a burst of 429s left some requests waiting many times what was asked."""
        if retry_after is not None:
            return retry_after * random.uniform(1.0, 1.1)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def attempts_for(self, status: int | None) -> int:
        """How many attempts a request may spend when its last answer was `status` (None:
        no answer at all)."""
        if status == 429:
            return self.rate_limited_attempts or 2 * self.attempts
        return self.attempts

    def spends_no_attempt(self, status: int | None, retry_after: float | None) -> bool:
        """Whether waiting out this answer is free: a metered 429, when the policy does not
        cap 429s itself."""
        metered = status == 429 and retry_after is not None and retry_after >= METERED_FROM
        return metered and self.rate_limited_attempts is None


def request_deadline(environ: Mapping[str, str], default: float) -> float:
    """Seconds one request may take in all, from PROVISIONER_REQUEST_DEADLINE."""
    value = environ.get(DEADLINE_VARIABLE, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise TargetError(f"{DEADLINE_VARIABLE} must be a number of seconds above 0")
    return seconds


def retry_after(response: httpx.Response) -> float | None:
    """The seconds an answer's `Retry-After` asks for (a number, or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), 3600.0)  # the deadline decides anyway
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - time.time())
