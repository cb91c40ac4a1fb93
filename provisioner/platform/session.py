"""The session: how every request reaches the platform, authenticated, resilient and bounded.

Every request, the token exchange included, goes through one retry loop (`Session.run`):
429, 502, 503, 504 and connection failures are retried with exponential backoff and full
jitter, honouring `Retry-After`, bounded in attempts and by the request's deadline. A 429
that says when to come back is a platform metering requests: waiting it out spends no
attempt, only time within the deadline. The deadline covers everything (waiting for a
slot, connecting, every byte of the answer), so a server that trickles its answer cannot
hold the tool; answers are capped in size (see provisioner.platform.transport).

A write whose reply is lost is never repeated blindly: a PATCH carries `If-Match`, so a
repeat cannot apply twice; a create looks for what it may have made and adopts it.

Every Flow Service attempt of a run first takes a slot of one shared `RequestLimiter`
(provisioner.platform.limiter): the number in flight, and the pace, adapt to the
platform's answers.

The requests themselves (`Call`) are built whole and never changed; what changes while one
is tried (how many attempts it has spent, how long it has waited) is the loop's own count.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioner.platform.auth import OPERATION as TOKEN_OPERATION
from provisioner.platform.auth import ImsAuth, TokenSource
from provisioner.platform.failures import (
    AmbiguousWriteError,
    AnswerLimitError,
    ApiCallError,
    RequestNotSentError,
    UnknownSandboxError,
    UnreachableError,
    describe_error,
    hint_for,
    one_line,
    says_unknown_sandbox,
    unknown_sandbox,
)
from provisioner.platform.limiter import Paused, RequestLimiter, Slot
from provisioner.platform.network import Network, network_from, untrusted
from provisioner.platform.options import ClientOptions
from provisioner.platform.policy import (
    DEADLINE_VARIABLE,
    RETRY_STATUSES,
    RetryPolicy,
    request_deadline,
    retry_after,
)
from provisioner.platform.redact import REDACTOR
from provisioner.platform.shapes import Resource, json_body
from provisioner.platform.target import Target
from provisioner.platform.transport import CALL, DEADLINE, SLOT, BoundedTransport, TooLarge, TooSlow

log = logging.getLogger("provisioner.http")

CONNECT_TIMEOUT = 10.0
# Failures that happen before a request reaches the server: safe to repeat for any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# A request that cannot be formed locally: repeating it cannot help, and its text may hold
# the offending (secret) header value, so it is never shown.
_MALFORMED_REQUEST = (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError)


@dataclass(frozen=True)
class Call:
    """One logical request, as the retry loop needs it."""

    operation: str
    method: str
    url: str
    shown: str  # the URL or path named in messages (no query)
    params: dict[str, Any] | None = None
    json_body: Any = None
    form: dict[str, str] | None = None
    if_match: str | None = None
    ok: frozenset[int] = frozenset({200})
    authenticated: bool = True
    # A POST that only reads (such as a bulk read): repeating it cannot change anything.
    reads_only: bool = False
    # For a create: looks for what a lost or failed reply may have made.
    settle: Callable[[], Resource | None] | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def where(self) -> str:
        return f"{self.operation}: {self.method} {self.shown}"


@dataclass(frozen=True)
class Adopted:
    """What a create made after all, found after an ambiguous failure."""

    resource: Resource


@dataclass
class _Tries:
    """The retry loop's count for one call."""

    started: float  # monotonic
    deadline: float  # the monotonic time the call must end by
    sent: int = 0
    free: int = 0  # attempts answered by a metered 429: they spend none of the policy's
    waited: float = 0.0  # seconds slept between attempts

    @property
    def spent(self) -> int:
        return self.sent - self.free


class _NoSlot(Exception):
    """The shared limiter gave no slot before the request's deadline."""

    def __init__(self, paused: Paused) -> None:
        self.seconds = paused.seconds


class Session:
    """Sends `Call`s: with a token, in a slot of the limiter, retried, bounded."""

    def __init__(self, target: Target, options: ClientOptions, policy: RetryPolicy) -> None:
        target.check_headers()
        environ = os.environ if options.environ is None else options.environ
        self.target = target
        self.policy = policy
        self.deadline = options.deadline or request_deadline(environ, policy.max_elapsed)
        self.max_answer_bytes = options.max_answer_bytes
        # One per client, so one per run: every thread's requests share its limit and pause.
        self.limiter = options.limiter or RequestLimiter(
            max(1, options.concurrency), sleep=options.sleep
        )
        self.redact = options.redactor or REDACTOR
        self.redact.add(*target.secrets)
        self.network: Network | None = None
        inner = options.transport
        if inner is None:
            self.network = network_from(environ)
            self.redact.add(*self.network.secrets)
            inner = self.network.transport()
        self._transport = BoundedTransport(inner, self.limiter, self.max_answer_bytes)
        self._http = httpx.Client(transport=self._transport, trust_env=False)
        self._sleep = options.sleep
        self._idle_timeout = options.idle_timeout
        self.tokens = TokenSource(target, self._fetch_token, redactor=self.redact)
        self._auth = ImsAuth(self.tokens)
        # Whether a request in the target's sandbox has been answered as hoped: until one
        # has, a 500 most likely means the sandbox does not exist (see `_sandbox_refusal`).
        self.sandbox_answered = False

    @property
    def request_count(self) -> int:
        """Exchanges sent so far, whoever sent them (retries and re-sends included)."""
        return self._transport.exchanges

    def close(self) -> None:
        self._http.close()

    # the one retry loop --------------------------------------------------------------

    def run(self, call: Call) -> httpx.Response | Adopted:
        """Send `call` until it is answered as hoped, or the policy or deadline says stop.
        The response's body is read (and bounded) already."""
        tries = _Tries(call.started, call.started + self.deadline)
        while True:
            outcome = self._try_once(call, tries)
            if outcome is not None:
                return outcome

    def _try_once(self, call: Call, tries: _Tries) -> httpx.Response | Adopted | None:
        """One attempt: its answer, what a create made, or None to try again (the wait
        before it done already); raises what ends the call."""
        tries.sent += 1
        try:
            response = self._attempt(call, tries.deadline)
        except _MALFORMED_REQUEST:
            raise RequestNotSentError(
                f"{call.where}: the request could not be formed (a header value HTTP "
                "cannot carry; not shown); nothing was sent"
            ) from None
        except (TooSlow, TooLarge, _NoSlot) as bound:
            raise self._beyond_bounds(call, bound) from None
        except httpx.TransportError as error:
            return self._after_transport_error(call, tries, error)
        return self._judge(call, tries, response)

    def _judge(
        self, call: Call, tries: _Tries, response: httpx.Response
    ) -> httpx.Response | Adopted | None:
        status = response.status_code
        if status in call.ok:
            if call.authenticated:
                self.sandbox_answered = True
            return response
        # A create answered by any server error may have happened: look before retrying.
        creating = call.settle is not None and status >= 500
        if status in RETRY_STATUSES or creating:
            found = call.settle() if creating and call.settle is not None else None
            if found is not None:
                return Adopted(found)
            if self._wait(call, tries, retry_after(response), status):
                return None
        raise self._error(call, tries, response)

    def _attempt(self, call: Call, deadline: float) -> httpx.Response:
        """One exchange in a slot of the shared limiter (a Flow Service request; the token
        exchange is made inside one, so it takes none)."""
        if not call.authenticated:
            return self._exchange(call, deadline, None)
        try:
            slot = self.limiter.acquire(max(0.0, deadline - time.monotonic()), who=call)
        except Paused as paused:
            raise _NoSlot(paused) from None
        try:
            return self._exchange(call, deadline, slot)
        finally:
            self.limiter.release(slot)

    def _exchange(self, call: Call, deadline: float, slot: Slot | None) -> httpx.Response:
        """One exchange, its answer read in full within the deadline and the size cap."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TooSlow
        request = self._http.build_request(
            call.method,
            call.url,
            params=call.params,
            json=call.json_body,
            data=call.form,
            headers=self._headers(call),
            timeout=httpx.Timeout(
                min(self._idle_timeout, remaining), connect=min(CONNECT_TIMEOUT, remaining)
            ),
            extensions={DEADLINE: deadline, SLOT: slot, CALL: call},
        )
        auth = self._auth if call.authenticated else None
        response = self._http.send(request, auth=auth, stream=True)
        try:
            response._content = b"".join(self._decoded(response))
        finally:
            response.close()
        return response

    def _decoded(self, response: httpx.Response) -> Iterator[bytes]:
        """The body as decoded, counted: compression cannot sneak past the cap."""
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.max_answer_bytes:
                raise TooLarge
            yield chunk

    def _after_transport_error(
        self, call: Call, tries: _Tries, error: httpx.TransportError
    ) -> Adopted | None:
        """Wait for the next try (None); or adopt what a create made; or raise what to tell."""
        writes = call.method in ("POST", "PATCH") and not call.reads_only
        if writes and not isinstance(error, _NOT_SENT):
            if call.settle is None:
                raise AmbiguousWriteError(
                    f"{call.where}: the connection failed after the request was sent "
                    f"({type(error).__name__}); it may or may not have been applied"
                ) from None
            found = call.settle()
            if found is not None:
                return Adopted(found)
        # A certificate that is not trusted stays so: trying again cannot help.
        if not untrusted(error) and self._wait(call, tries, None, None):
            return None
        raise UnreachableError(
            f"{call.where}: no answer after {tries.sent} tries ({type(error).__name__}: "
            f"{one_line(self.redact(str(error)), 200)}); {self._network_hint(call, error)}"
        ) from None

    def _wait(
        self, call: Call, tries: _Tries, retry_after: float | None, status: int | None
    ) -> bool:
        """Sleep before the next attempt; False when the attempts or the time are used up."""
        if self.policy.spends_no_attempt(status, retry_after):
            tries.free += 1
        elif tries.spent >= self.policy.attempts_for(status):
            return False
        delay = self.policy.delay(max(0, tries.spent - 1), retry_after)
        # The time slept counts even where `sleep` does not pass (a test's fake clock).
        now = max(time.monotonic(), tries.started + tries.waited)
        if now + delay >= tries.deadline:
            return False
        log.debug("%s: try %d in %.2f s", call.operation, tries.sent + 1, delay)
        self._sleep(delay)
        tries.waited += delay
        return True

    # what ends a call ----------------------------------------------------------------

    def _beyond_bounds(self, call: Call, bound: Exception) -> AnswerLimitError:
        if isinstance(bound, TooSlow):
            return AnswerLimitError(
                f"{call.where}: no complete answer within {self.deadline:g} s (the "
                "platform is slow, stalled or trickling its answer); try again later, "
                f"or allow more time with {DEADLINE_VARIABLE}"
            )
        if isinstance(bound, _NoSlot):
            return AnswerLimitError(
                f"{call.where}: not sent: waiting {bound.seconds:g} s (the platform's "
                "Retry-After, or for the requests in flight) would pass this request's "
                f"deadline of {self.deadline:g} s; try again later, lower --concurrency, "
                f"or allow more time with {DEADLINE_VARIABLE}"
            )
        return AnswerLimitError(
            f"{call.where}: the answer is larger than "
            f"{self.max_answer_bytes // (1024 * 1024)} MiB; refusing to read it (the "
            "platform, or a proxy in between, is misbehaving)"
        )

    def _network_hint(self, call: Call, error: httpx.TransportError) -> str:
        """What to check when no answer came."""
        url_variable = "AEP_PLATFORM_URL" if call.authenticated else "AEP_IMS_URL"
        if self.network is None:  # a transport of the caller's: no network of ours
            return f"check the network and {url_variable}"
        return self.network.hint(httpx.URL(call.url), error, url_variable)

    def _error(
        self, call: Call, tries: _Tries, response: httpx.Response
    ) -> ApiCallError | AmbiguousWriteError | UnknownSandboxError:
        code, message = describe_error(response)
        status = response.status_code
        refusal = self._sandbox_refusal(call, status, code, self.redact(message))
        if refusal is not None:
            return refusal
        if status == 412 and tries.sent > 1 and call.method == "PATCH":
            return AmbiguousWriteError(
                f"{call.where} failed, then its retry found the object changed; the first "
                "attempt may have been applied"
            )
        # IMS answers a refused client with 400 or 401: both mean the credentials.
        hinted = 401 if not call.authenticated and status in (400, 401) else status
        return ApiCallError(
            call.operation,
            call.method,
            call.shown,
            status,
            code,
            self.redact(message),
            hint_for(hinted, tries.sent),
            tries.sent,
        )

    def _sandbox_refusal(
        self, call: Call, status: int, code: str, message: str
    ) -> UnknownSandboxError | None:
        """The error for an answer that means the sandbox is unknown (or not this client's),
        else None. The platform's documents give 404 2100 for it; a live platform answered
        500 with nothing more, which reads so only while nothing in the sandbox has
        succeeded: the run's first reads, before any write."""
        if not call.authenticated:
            return None
        said_so = says_unknown_sandbox(code, message)
        if not said_so and (status != 500 or self.sandbox_answered):
            return None
        shown_code = f" {code}" if code else ""
        said = f": {message}" if message else ""
        return unknown_sandbox(
            self.target.sandbox,
            self.target.org,
            f"{call.where} answered {status}{shown_code}{said}",
            said_so,
            embedded=self.target.kind == "emulator",
        )

    def _headers(self, call: Call) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if call.authenticated:  # Authorization comes from ImsAuth
            headers["x-api-key"] = self.target.client_id
            headers["x-gw-ims-org-id"] = self.target.org
            headers["x-sandbox-name"] = self.target.sandbox
        if call.json_body is not None:
            headers["Content-Type"] = "application/json"
        if call.if_match is not None:
            headers["If-Match"] = call.if_match
        return headers

    # tokens --------------------------------------------------------------------------

    def _fetch_token(self, url: str, form: dict[str, str]) -> Any:
        # Asking for a token changes nothing (a second one is as good as the first), so a
        # lost reply is retried as a read's is, under the same policy.
        call = Call(
            TOKEN_OPERATION, "POST", url, url, form=form, authenticated=False, reads_only=True
        )
        outcome = self.run(call)
        assert isinstance(outcome, httpx.Response)  # only a create can adopt
        return json_body(call.where, outcome)
