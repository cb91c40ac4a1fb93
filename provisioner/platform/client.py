"""The one way the tool talks to the platform: authenticated, resilient, bounded, economical.

Every request, the token exchange included, goes through one retry loop (`_run`): 429, 502,
503, 504 and connection failures are retried with exponential backoff and full jitter,
honouring `Retry-After`, bounded in attempts and by the request's deadline. The deadline
covers everything (connecting, waiting, every byte of the answer), so a server that
trickles its answer cannot hold the tool; answers are capped in size, pages in number, and
every answer is checked against the shape the tool relies on before it is used.

A write whose reply is lost is never repeated blindly: a PATCH carries `If-Match`, so a
repeat cannot apply twice; a create looks for what it may have made and adopts it.

Every Flow Service attempt of a run first takes a slot of one shared `RequestLimiter`: the
number in flight adapts to the platform's answers (halved on 429 and server errors, grown
back after successes, up to `concurrency`), and a `Retry-After` pauses every thread.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioner.errors import TargetError
from provisioner.platform.auth import OPERATION as TOKEN_OPERATION
from provisioner.platform.auth import ImsAuth, TokenSource
from provisioner.platform.failures import (
    AmbiguousWriteError,
    AnswerLimitError,
    ApiCallError,
    MalformedAnswerError,
    RequestNotSentError,
    UnknownSandboxError,
    UnreachableError,
    describe_error,
    hint_for,
    one_line,
    says_unknown_sandbox,
    unknown_sandbox,
)
from provisioner.platform.flow_action import (
    ActionForms,
    action_params,
    refuses_the_form,
    shown,
)
from provisioner.platform.ids import FLOW_SERVICE_PATH
from provisioner.platform.limiter import Paused, RequestLimiter, Slot
from provisioner.platform.redact import REDACTOR, Redactor
from provisioner.platform.shapes import shape_problem
from provisioner.platform.target import Target

log = logging.getLogger("provisioner.http")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_LIMIT = 100  # the most a list call returns
MAX_PAGES = 1000  # 100,000 objects of one kind: far beyond any sandbox, short of forever
MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEADLINE_VARIABLE = "PROVISIONER_REQUEST_DEADLINE"
IDLE_TIMEOUT = 30.0  # seconds without a byte before an attempt is given up
CONNECT_TIMEOUT = 10.0
# Failures that happen before a request reaches the server: safe to repeat for any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A request that cannot be formed locally: repeating it cannot help, and its text may hold
# the offending (secret) header value, so it is never shown.
_MALFORMED_REQUEST = (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError)
_DEADLINE = "provisioner.deadline"  # request extension: the monotonic time it must end by
_SENT_AT = "provisioner.sent_at"
_SLOT = "provisioner.slot"  # request extension: the limiter's slot it was sent in
_CALL = "provisioner.call"  # request extension: the logical request it is an attempt of

Resource = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    # A 429 says "later", not "broken": a storm of them is outlasted, within the deadline.
    # None: twice `attempts`.
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


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Created:
    id: str
    etag: str | None
    adopted: bool  # found after an ambiguous failure instead of created by this call


@dataclass(frozen=True)
class _Adopted:
    resource: Resource


@dataclass
class _Call:
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
    sent: int = 0

    @property
    def where(self) -> str:
        return f"{self.operation}: {self.method} {self.shown}"


class _TooSlow(Exception):
    """The request's deadline passed (raised where the time is checked)."""


class _TooLarge(Exception):
    """The answer is larger than the cap."""


class _NoSlot(Exception):
    """The shared limiter gave no slot before the request's deadline."""

    def __init__(self, paused: Paused) -> None:
        self.seconds = paused.seconds


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


class PlatformClient:
    def __init__(
        self,
        target: Target,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = IDLE_TIMEOUT,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        redactor: Redactor | None = None,
        base_url: str | None = None,
        deadline: float | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        limiter: RequestLimiter | None = None,
    ) -> None:
        target.check_headers()
        self.target = target
        self.policy = policy or DEFAULT_POLICY
        self.deadline = deadline or request_deadline(os.environ, self.policy.max_elapsed)
        self.max_answer_bytes = max_answer_bytes
        self.concurrency = max(1, concurrency)
        # One per client, so one per run: every thread's requests share its limit and pause.
        self.limiter = limiter or RequestLimiter(self.concurrency, sleep=sleep)
        self.action_forms = ActionForms()
        self.redact = redactor or REDACTOR
        self.redact.add(*target.secrets)
        self._sleep = sleep
        self._timeout = timeout
        self._base = base_url or target.url
        self._http = httpx.Client(
            transport=transport,
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )
        self.tokens = TokenSource(target, self._fetch_token, redactor=self.redact)
        self.auth = ImsAuth(self.tokens)
        self._count_lock = threading.Lock()
        self.request_count = 0
        # Whether a request in the target's sandbox has been answered as hoped: until one
        # has, a 500 most likely means the sandbox does not exist (see `_sandbox_refusal`).
        self.sandbox_answered = False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the one retry loop --------------------------------------------------------------

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        if_match: str | None = None,
        ok: Iterable[int] = (200,),
        service: str = FLOW_SERVICE_PATH,
        reads_only: bool = False,
    ) -> httpx.Response:
        """One request to a platform service (the Flow Service unless `service` names
        another's base path), retried as its method allows (`reads_only`: a POST that
        changes nothing, repeated as a read is); raises for any other answer. The
        response's body is read (and bounded) already."""
        call = self._flow_call(operation, method, path, params, body, if_match, ok, service)
        call.reads_only = reads_only
        outcome = self._run(call)
        assert isinstance(outcome, httpx.Response)  # only a create can adopt
        return outcome

    def _flow_call(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: Any,
        if_match: str | None,
        ok: Iterable[int],
        service: str = FLOW_SERVICE_PATH,
    ) -> _Call:
        return _Call(
            operation,
            method,
            self._base + service + path,
            service + path.split("?", 1)[0],
            params=params,
            json_body=body,
            if_match=if_match,
            ok=frozenset(ok),
        )

    def _run(self, call: _Call) -> httpx.Response | _Adopted:
        """Send `call` until it is answered as hoped, or the policy or deadline says stop."""
        deadline = call.started + self.deadline
        while True:
            call.sent += 1
            try:
                response = self._attempt(call, deadline)
            except _MALFORMED_REQUEST:
                raise RequestNotSentError(
                    f"{call.where}: the request could not be formed (a header value HTTP "
                    "cannot carry; not shown); nothing was sent"
                ) from None
            except _TooSlow:
                raise AnswerLimitError(
                    f"{call.where}: no complete answer within {self.deadline:g} s (the "
                    "platform is slow, stalled or trickling its answer); try again later, "
                    f"or allow more time with {DEADLINE_VARIABLE}"
                ) from None
            except _NoSlot as no_slot:
                raise AnswerLimitError(
                    f"{call.where}: not sent: waiting {no_slot.seconds:g} s (the platform's "
                    "Retry-After, or for the requests in flight) would pass this request's "
                    f"deadline of {self.deadline:g} s; try again later, lower --concurrency, "
                    f"or allow more time with {DEADLINE_VARIABLE}"
                ) from None
            except _TooLarge:
                raise AnswerLimitError(
                    f"{call.where}: the answer is larger than "
                    f"{self.max_answer_bytes // (1024 * 1024)} MiB; refusing to read it (the "
                    "platform, or a proxy in between, is misbehaving)"
                ) from None
            except httpx.TransportError as error:
                adopted = self._after_transport_error(call, error, deadline)
                if adopted is not None:
                    return adopted
                continue
            if response.status_code in call.ok:
                if call.authenticated:
                    self.sandbox_answered = True
                return response
            status = response.status_code
            # A create answered by any server error may have happened: look before retrying.
            creating = call.settle is not None and status >= 500
            if status in RETRY_STATUSES or creating:
                found = call.settle() if creating and call.settle is not None else None
                if found is not None:
                    return _Adopted(found)
                if self._wait(call, deadline, _retry_after(response), status == 429):
                    continue
            raise self._error(call, response)

    def _attempt(self, call: _Call, deadline: float) -> httpx.Response:
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

    def _exchange(self, call: _Call, deadline: float, slot: Slot | None) -> httpx.Response:
        """One exchange, its answer read in full within the deadline and the size cap."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _TooSlow
        request = self._http.build_request(
            call.method,
            call.url,
            params=call.params,
            json=call.json_body,
            data=call.form,
            headers=self._headers(call),
            timeout=httpx.Timeout(
                min(self._timeout, remaining), connect=min(CONNECT_TIMEOUT, remaining)
            ),
            extensions={_DEADLINE: deadline, _SLOT: slot, _CALL: call},
        )
        auth = self.auth if call.authenticated else None
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
                raise _TooLarge
            yield chunk

    def _after_transport_error(
        self, call: _Call, error: httpx.TransportError, deadline: float
    ) -> _Adopted | None:
        """Wait for the next try; or adopt what a create made; or raise what to tell."""
        writes = call.method in ("POST", "PATCH") and not call.reads_only
        maybe_applied = writes and not isinstance(error, _NOT_SENT)
        if maybe_applied:
            if call.settle is None:
                raise AmbiguousWriteError(
                    f"{call.where}: the connection failed after the request was sent "
                    f"({type(error).__name__}); it may or may not have been applied"
                ) from None
            found = call.settle()
            if found is not None:
                return _Adopted(found)
        if self._wait(call, deadline, None):
            return None
        raise UnreachableError(
            f"{call.where}: no answer after {call.sent} tries ({type(error).__name__}: "
            f"{one_line(self.redact(str(error)), 200)}); check the network and "
            f"{'AEP_IMS_URL' if not call.authenticated else 'AEP_PLATFORM_URL'}"
        ) from None

    def _wait(
        self, call: _Call, deadline: float, retry_after: float | None, rate_limited: bool = False
    ) -> bool:
        """Sleep before the next attempt; False when the attempts or the time are used up."""
        limit = self.policy.attempts
        if rate_limited:
            limit = self.policy.rate_limited_attempts or 2 * self.policy.attempts
        if call.sent >= limit:
            return False
        delay = self.policy.delay(call.sent - 1, retry_after)
        if time.monotonic() + delay >= deadline:
            return False
        log.debug("%s: try %d in %.2f s", call.operation, call.sent + 1, delay)
        self._sleep(delay)
        return True

    def _error(self, call: _Call, response: httpx.Response) -> PlatformErrorType:
        code, message = describe_error(response)
        status = response.status_code
        refusal = self._sandbox_refusal(call, status, code, self.redact(message))
        if refusal is not None:
            return refusal
        if status == 412 and call.sent > 1 and call.method == "PATCH":
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
            hint_for(hinted, call.sent),
            call.sent,
        )

    def _sandbox_refusal(
        self, call: _Call, status: int, code: str, message: str
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

    def _headers(self, call: _Call) -> dict[str, str]:
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

    # every exchange, whoever sends it (the loop above, or ImsAuth's re-send) ----------

    def _on_request(self, request: httpx.Request) -> None:
        with self._count_lock:
            self.request_count += 1
        request.extensions[_SENT_AT] = time.monotonic()

    def _on_response(self, response: httpx.Response) -> None:
        """Bounds every answer before anyone reads it: its size, and its time."""
        request = response.request
        log.debug(
            "%s %s -> %s in %.0f ms (request-id %s)",
            request.method,
            request.url.raw_path.decode("ascii", "replace"),
            response.status_code,
            (time.monotonic() - request.extensions.get(_SENT_AT, time.monotonic())) * 1000,
            one_line(response.headers.get("x-request-id", "-"), 80),
        )
        slot = request.extensions.get(_SLOT)
        if isinstance(slot, Slot):  # seen here, before anyone reads it: others pause sooner
            self.limiter.observe(
                response.status_code, _retry_after(response), slot, request.extensions.get(_CALL)
            )
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_answer_bytes:
            raise _TooLarge
        deadline = float(request.extensions.get(_DEADLINE, float("inf")))
        if time.monotonic() > deadline:
            raise _TooSlow
        if isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _BoundedStream(response.stream, deadline, self.max_answer_bytes)

    def _fetch_token(self, url: str, form: dict[str, str]) -> Any:
        # Asking for a token changes nothing (a second one is as good as the first), so a
        # lost reply is retried as a read's is, under the same policy.
        call = _Call(
            TOKEN_OPERATION, "POST", url, url, form=form, authenticated=False, reads_only=True
        )
        outcome = self._run(call)
        assert isinstance(outcome, httpx.Response)
        return _json(call.where, outcome)

    # reads ---------------------------------------------------------------------------

    def get(self, kind: str, resource_id: str, operation: str) -> Resource | None:
        """One object by id, or None when it does not exist."""
        path = f"/{kind}/{resource_id}"
        try:
            response = self.call(operation, "GET", path)
        except ApiCallError as error:
            if error.status == 404:
                return None
            raise
        items = _items(f"{operation}: GET {FLOW_SERVICE_PATH}{path}", response, kind)
        return items[0] if items else None

    def list_all(self, kind: str, filters: Sequence[str], operation: str) -> list[Resource]:
        """Every object matching all `filters`, following continuation links.

        Stops with an error at a link seen before (a paging loop) or past MAX_PAGES."""
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "property": list(filters)}
        path, items, seen = f"/{kind}", [], set()
        where = f"{operation}: GET {FLOW_SERVICE_PATH}/{kind}"
        for _ in range(MAX_PAGES):
            response = self.call(operation, "GET", path, params=params)
            page = _object(where, response)
            items.extend(_items_of(where, page, response.status_code, kind))
            href = _next_link(where, page, response.status_code)
            if href is None:
                return items
            if href in seen:
                raise MalformedAnswerError(
                    f"{where}: the platform's paging repeats itself (the same next link "
                    "twice); stopped reading rather than loop"
                )
            seen.add(href)
            # The link is relative to the Flow Service and carries its whole query; passing
            # params too (even empty) would replace that query.
            path, params = href, None
        raise MalformedAnswerError(
            f"{where}: more than {MAX_PAGES} pages of {PAGE_LIMIT}; stopped reading (the "
            "platform's paging does not end)"
        )

    def get_by_ids(
        self, kind: str, ids: Iterable[str], operation: str, field: str = "id"
    ) -> list[Resource]:
        """Objects whose `field` is one of `ids`: one list call per 100, run concurrently."""
        unique = sorted(set(ids))
        chunks = [unique[i : i + PAGE_LIMIT] for i in range(0, len(unique), PAGE_LIMIT)]
        if not chunks:
            return []

        def fetch(chunk: list[str]) -> list[Resource]:
            return self.list_all(kind, [f"{field}=={','.join(chunk)}"], operation)

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
            return [item for page in pool.map(fetch, chunks) for item in page]

    # writes --------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        body: Resource,
        operation: str,
        find_existing: Callable[[], Resource | None],
    ) -> Created:
        """POST a new object. After an ambiguous failure, adopt it if it was made after all."""
        call = self._flow_call(operation, "POST", f"/{kind}", None, body, None, (200, 201))
        call.settle = find_existing
        outcome = self._run(call)
        if isinstance(outcome, _Adopted):
            found = _resource(call.where, outcome.resource)
            log.info("%s: the create went through after all; adopted %s", operation, found["id"])
            return Created(found["id"], _etag_in(found), adopted=True)
        data = _resource(call.where, _object(call.where, outcome), outcome.status_code)
        return Created(data["id"], _etag_in(data), adopted=False)

    def patch(
        self, kind: str, resource_id: str, operations: list[Resource], etag: str, operation: str
    ) -> str | None:
        """Apply JSON Patch ops with If-Match; the new etag, or None when answered 202."""
        path = f"/{kind}/{resource_id}"
        response = self.call(
            operation, "PATCH", path, body=operations, if_match=etag, ok=(200, 202)
        )
        return _etag_of(f"{operation}: PATCH {FLOW_SERVICE_PATH}{path}", response)

    def delete(self, kind: str, resource_id: str, operation: str) -> None:
        try:
            self.call(operation, "DELETE", f"/{kind}/{resource_id}", ok=(200, 202, 204))
        except ApiCallError as error:
            if error.status == 404 and error.attempts > 1:
                return  # an earlier attempt deleted it; its reply was lost
            raise

    def flow_action(self, flow_id: str, action: str, operation: str) -> str | None:
        """Enable or disable a dataflow, in the documented form this platform takes (see
        provisioner.platform.flow_action); the new etag, or None when the answer carries none."""
        path = f"/flows/{flow_id}/action"
        refused: list[tuple[str, ApiCallError]] = []
        for form in self.action_forms.order():
            params = action_params(form, action)
            try:
                response = self.call(operation, "POST", path, params=params, ok=(200, 202))
            except ApiCallError as error:
                if not refuses_the_form(error):
                    raise
                log.info("%s: %s refused (%s); trying the other form", operation, form, error)
                refused.append((shown(form, action), error))
                continue
            self.action_forms.worked(form)
            return _etag_of(f"{operation}: POST {FLOW_SERVICE_PATH}{path}", response)
        last = refused[-1][1]
        raise ApiCallError(
            last.operation,
            last.method,
            last.path,
            last.status,
            last.code,
            last.platform_message,
            "The platform refused both documented forms of the flow action ("
            + " and ".join(query for query, _ in refused)
            + "); the message above says why.",
            last.attempts,
        )


PlatformErrorType = ApiCallError | AmbiguousWriteError | UnknownSandboxError


class _BoundedStream(httpx.SyncByteStream):
    """An answer's raw bytes, checked against the deadline and the cap at every chunk."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float, limit: int) -> None:
        self._inner = inner
        self._deadline = deadline
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise _TooLarge
            if time.monotonic() > self._deadline:
                raise _TooSlow
            yield chunk

    def close(self) -> None:
        self._inner.close()


# the shapes the tool relies on --------------------------------------------------------


def _malformed(where: str, status: int, what: str) -> MalformedAnswerError:
    return MalformedAnswerError(
        f"{where} answered {status} with {what}; the platform (or a proxy in between) sent "
        "something unexpected"
    )


def _json(where: str, response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise _malformed(where, response.status_code, "a body that is not JSON") from None


def _object(where: str, response: httpx.Response) -> dict[str, Any]:
    body = _json(where, response)
    if not isinstance(body, dict):
        raise _malformed(where, response.status_code, "JSON that is not an object")
    return body


def _items(where: str, response: httpx.Response, kind: str) -> list[Resource]:
    """The `items` of a read, each an object with an id."""
    return _items_of(where, _object(where, response), response.status_code, kind)


def _items_of(where: str, body: dict[str, Any], status: int, kind: str) -> list[Resource]:
    """The `items` of a read of `kind`: each an object with an id, whose fields that the
    tool reads have the types it relies on (see provisioner.platform.shapes)."""
    items = body.get("items")
    if not isinstance(items, list):
        raise _malformed(where, status, "no list of items")
    resources = [_resource(where, item, status) for item in items]
    for resource in resources:
        problem = shape_problem(kind, resource)
        if problem is not None:
            raise _malformed(where, status, problem)
    return resources


def _resource(where: str, item: Any, status: int = 200) -> Resource:
    if not isinstance(item, dict):
        raise _malformed(where, status, "an item that is not an object")
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise _malformed(where, status, "an object without an id")
    return item


def _next_link(where: str, body: dict[str, Any], status: int) -> str | None:
    links = body.get("_links") or {}
    next_link = links.get("next") if isinstance(links, dict) else None
    href = next_link.get("href") if isinstance(next_link, dict) else None
    if not href:
        return None
    if not isinstance(href, str) or not href.startswith("/") or href.startswith("//"):
        raise _malformed(where, status, "a next link that is not a Flow Service path")
    return href


def _etag_in(resource: Resource) -> str | None:
    etag = resource.get("etag")
    return etag if isinstance(etag, str) and etag else None


def _etag_of(where: str, response: httpx.Response) -> str | None:
    if not response.content.strip():
        return None
    return _etag_in(_object(where, response))


def _retry_after(response: httpx.Response) -> float | None:
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
