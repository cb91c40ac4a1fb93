"""Every exchange with the platform, bounded: an httpx transport around the real one.

Whoever sends a request (the session's retry loop, or `ImsAuth` sending it again after a
401), its exchange passes here: it is counted and logged, the shared limiter learns from
its answer before anyone reads it (so that other threads pause sooner), and the answer is
refused when it announces more bytes than the cap, arrives after the request's deadline,
or trickles past either while its body is read.

The bounds a request carries (its deadline, its limiter slot, the logical call it is an
attempt of) travel in its extensions, under the names below.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx

from provisioner.platform.failures import one_line
from provisioner.platform.limiter import RequestLimiter, Slot
from provisioner.platform.policy import retry_after

log = logging.getLogger("provisioner.http")

DEADLINE = "provisioner.deadline"  # the monotonic time the exchange must end by
SLOT = "provisioner.slot"  # the limiter's slot it was sent in
CALL = "provisioner.call"  # the logical request it is an attempt of


class TooSlow(Exception):
    """The request's deadline passed (raised where the time is checked)."""


class TooLarge(Exception):
    """The answer is larger than the cap."""


class BoundedTransport(httpx.BaseTransport):
    """Counts, logs and bounds every exchange over `inner`; feeds the limiter."""

    def __init__(
        self, inner: httpx.BaseTransport, limiter: RequestLimiter, max_answer_bytes: int
    ) -> None:
        self._inner = inner
        self._limiter = limiter
        self._max_answer_bytes = max_answer_bytes
        self._count_lock = threading.Lock()
        self.exchanges = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._count_lock:
            self.exchanges += 1
        sent_at = time.monotonic()
        response = self._inner.handle_request(request)
        _log_exchange(request, response, sent_at)
        slot = request.extensions.get(SLOT)
        if isinstance(slot, Slot):
            self._limiter.observe(
                response.status_code, retry_after(response), slot, request.extensions.get(CALL)
            )
        try:
            self._check(response, request.extensions.get(DEADLINE, float("inf")))
        except (TooLarge, TooSlow):
            response.close()
            raise
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _BoundedStream(
                response.stream, request.extensions.get(DEADLINE), self._max_answer_bytes
            )
        return response

    def _check(self, response: httpx.Response, deadline: float) -> None:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self._max_answer_bytes:
            raise TooLarge
        if time.monotonic() > deadline:
            raise TooSlow

    def close(self) -> None:
        self._inner.close()


def _log_exchange(request: httpx.Request, response: httpx.Response, sent_at: float) -> None:
    log.debug(
        "%s %s -> %s in %.0f ms (request-id %s)",
        request.method,
        request.url.raw_path.decode("ascii", "replace"),
        response.status_code,
        (time.monotonic() - sent_at) * 1000,
        one_line(response.headers.get("x-request-id", "-"), 80),
    )


class _BoundedStream(httpx.SyncByteStream):
    """An answer's raw bytes, checked against the deadline and the cap at every chunk."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float | None, limit: int) -> None:
        self._inner = inner
        self._deadline = float("inf") if deadline is None else deadline
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise TooLarge
            if time.monotonic() > self._deadline:
                raise TooSlow
            yield chunk

    def close(self) -> None:
        self._inner.close()
