"""The one way the tool talks to the platform: authenticated, resilient, economical.

Every call has a timeout. 429, 502, 503, 504 and connection failures are retried with
exponential backoff and full jitter, honouring `Retry-After`, bounded in attempts and in
time. A write whose reply is lost is never repeated blindly: a PATCH carries `If-Match`, so
a repeat cannot apply twice; a create looks for what it may have made and adopts it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from provisioner.errors import PlatformError
from provisioner.platform.auth import TokenSource
from provisioner.platform.failures import (
    AmbiguousWriteError,
    ApiCallError,
    UnreachableError,
    describe_error,
    hint_for,
)
from provisioner.platform.ids import FLOW_SERVICE_PATH
from provisioner.platform.redact import REDACTOR, Redactor
from provisioner.platform.target import Target

log = logging.getLogger("provisioner.http")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_LIMIT = 100  # the most a list call returns
# Failures that happen before a request reaches the server: safe to repeat for any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Resource = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_elapsed: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return max(backoff, retry_after or 0.0)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Created:
    id: str
    etag: str | None
    adopted: bool  # found after an ambiguous failure instead of created by this call


@dataclass
class _Attempt:
    operation: str
    method: str
    path: str
    started: float
    retry_5xx: bool = True
    sent: int = 0  # requests sent so far for this logical call
    renewed_token: bool = False


class PlatformClient:
    def __init__(
        self,
        target: Target,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        redactor: Redactor | None = None,
        base_url: str | None = None,
    ) -> None:
        self.target = target
        self.policy = policy or DEFAULT_POLICY
        self.concurrency = max(1, concurrency)
        self.redact = redactor or REDACTOR
        self.redact.add(*target.secrets)
        self._sleep = sleep
        self._base = base_url or target.url
        self._http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout, connect=10))
        self.tokens = TokenSource(target, self._fetch_token)
        self._count_lock = threading.Lock()
        self.request_count = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the retry loop ------------------------------------------------------------------

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
        retry_5xx: bool = True,
    ) -> httpx.Response:
        """One logical request, retried as its method allows; raises for any other answer.

        `retry_5xx=False` is for creates: a server error may hide a create that happened,
        which `create()` resolves by looking before it tries again.
        """
        state = _Attempt(operation, method, path, time.monotonic(), retry_5xx)
        accepted = frozenset(ok)
        while True:
            response = self._send_once(state, params, body, if_match)
            if response is None:
                continue
            if response.status_code in accepted:
                return response
            if self._should_retry(state, response):
                continue
            raise self._error(state, response)

    def _send_once(
        self, state: _Attempt, params: dict[str, Any] | None, body: Any, if_match: str | None
    ) -> httpx.Response | None:
        """The response, or None when a transport failure was waited out for a retry."""
        headers = self._headers(if_match, has_body=body is not None)
        state.sent += 1
        try:
            response = self._request(state.method, state.path, params, body, headers)
        except httpx.TransportError as error:
            self._after_transport_error(state, error)
            return None
        if response.status_code == 401 and not state.renewed_token:
            state.renewed_token = True
            if self.tokens.renew(headers["Authorization"].split(" ", 1)[1]):
                return None
        return response

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: Any,
        headers: dict[str, str],
    ) -> httpx.Response:
        url = self._base + FLOW_SERVICE_PATH + path
        with self._count_lock:
            self.request_count += 1
        started = time.monotonic()
        response = self._http.request(method, url, params=params, json=body, headers=headers)
        log.debug(
            "%s %s -> %s in %.0f ms (request-id %s)",
            method,
            response.request.url.raw_path.decode(),
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("x-request-id", "-"),
        )
        return response

    def _after_transport_error(self, state: _Attempt, error: httpx.TransportError) -> None:
        where = f"{state.operation}: {state.method} {state.path}"
        if not isinstance(error, _NOT_SENT) and state.method in ("POST", "PATCH"):
            raise AmbiguousWriteError(
                f"{where}: the connection failed after the request was sent "
                f"({type(error).__name__}); it may or may not have been applied"
            ) from None
        if not self._wait(state, None):
            raise UnreachableError(
                f"{where}: no answer after {state.sent} tries ({type(error).__name__}: "
                f"{self.redact(str(error))}); check the network and AEP_PLATFORM_URL"
            ) from None

    def _should_retry(self, state: _Attempt, response: httpx.Response) -> bool:
        if response.status_code not in RETRY_STATUSES:
            return False
        if response.status_code != 429 and not state.retry_5xx:
            return False
        return self._wait(state, _retry_after(response))

    def _wait(self, state: _Attempt, retry_after: float | None) -> bool:
        """Sleep before the next attempt; False when the attempts or the time are used up."""
        if state.sent >= self.policy.attempts:
            return False
        delay = self.policy.delay(state.sent - 1, retry_after)
        if time.monotonic() - state.started + delay > self.policy.max_elapsed:
            return False
        log.debug("%s: try %d in %.2f s", state.operation, state.sent + 1, delay)
        self._sleep(delay)
        return True

    def _error(self, state: _Attempt, response: httpx.Response) -> PlatformError:
        code, message = describe_error(response)
        status = response.status_code
        if status == 412 and state.sent > 1 and state.method == "PATCH":
            return AmbiguousWriteError(
                f"{state.operation}: PATCH {state.path} failed, then its retry found the object "
                "changed; the first attempt may have been applied"
            )
        return ApiCallError(
            state.operation,
            state.method,
            FLOW_SERVICE_PATH + state.path,
            status,
            code,
            self.redact(message),
            hint_for(status, state.sent),
            state.sent,
        )

    def _headers(self, if_match: str | None, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.tokens.token()}",
            "x-api-key": self.target.client_id,
            "x-gw-ims-org-id": self.target.org,
            "x-sandbox-name": self.target.sandbox,
            "Accept": "application/json",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        if if_match is not None:
            headers["If-Match"] = if_match
        return headers

    def _fetch_token(self, url: str, form: dict[str, str]) -> httpx.Response:
        state = _Attempt("get an access token", "POST", url, time.monotonic())
        while True:
            state.sent += 1
            try:
                with self._count_lock:
                    self.request_count += 1
                response = self._http.post(url, data=form)
            except httpx.TransportError as error:
                if not self._wait(state, None):
                    raise UnreachableError(
                        f"get an access token: no answer from {url} ({type(error).__name__})"
                    ) from None
                continue
            if response.status_code == 200:
                return response
            if response.status_code in RETRY_STATUSES and self._wait(state, _retry_after(response)):
                continue
            code, message = describe_error(response)
            status = response.status_code
            # IMS answers a refused client with 400 or 401: both mean the credentials.
            hint = hint_for(401 if status in (400, 401) else status, state.sent)
            raise ApiCallError(
                state.operation, "POST", url, status, code, self.redact(message), hint, state.sent
            )

    # reads ---------------------------------------------------------------------------

    def get(self, kind: str, resource_id: str, operation: str) -> Resource | None:
        """One object by id, or None when it does not exist."""
        try:
            response = self.call(operation, "GET", f"/{kind}/{resource_id}")
        except ApiCallError as error:
            if error.status == 404:
                return None
            raise
        items: list[Resource] = response.json().get("items", [])
        return items[0] if items else None

    def list_all(self, kind: str, filters: Sequence[str], operation: str) -> list[Resource]:
        """Every object matching all `filters`, following continuation tokens."""
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "property": list(filters)}
        path, items = f"/{kind}", []
        while True:
            body = self.call(operation, "GET", path, params=params).json()
            items.extend(body.get("items", []))
            next_link = (body.get("_links") or {}).get("next") or {}
            if not next_link.get("href"):
                return items
            # The link is relative to the Flow Service and carries its whole query; passing
            # params too (even empty) would replace that query.
            path, params = next_link["href"], None

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
        state = _Attempt(operation, "POST", f"/{kind}", time.monotonic())
        while True:
            state.sent += 1  # each POST counts against the policy's attempts
            try:
                response = self.call(
                    operation, "POST", f"/{kind}", body=body, ok=(200, 201), retry_5xx=False
                )
                data = response.json()
                return Created(str(data["id"]), data.get("etag"), adopted=False)
            except (AmbiguousWriteError, ApiCallError) as error:
                if isinstance(error, ApiCallError) and error.status < 500:
                    raise
                existing = find_existing()
                if existing is not None:
                    log.info(
                        "%s: the create went through after all; adopted %s",
                        operation,
                        existing["id"],
                    )
                    return Created(str(existing["id"]), existing.get("etag"), adopted=True)
                if not self._wait(state, None):
                    raise

    def patch(
        self, kind: str, resource_id: str, operations: list[Resource], etag: str, operation: str
    ) -> str | None:
        """Apply JSON Patch ops with If-Match; the new etag, or None when answered 202."""
        response = self.call(
            operation,
            "PATCH",
            f"/{kind}/{resource_id}",
            body=operations,
            if_match=etag,
            ok=(200, 202),
        )
        return _etag_of(response)

    def delete(self, kind: str, resource_id: str, operation: str) -> None:
        try:
            self.call(operation, "DELETE", f"/{kind}/{resource_id}", ok=(200, 202, 204))
        except ApiCallError as error:
            if error.status == 404 and error.attempts > 1:
                return  # an earlier attempt deleted it; its reply was lost
            raise

    def flow_action(self, flow_id: str, action: str, operation: str) -> str | None:
        response = self.call(
            operation, "POST", f"/flows/{flow_id}/action", params={"op": action}, ok=(200, 202)
        )
        return _etag_of(response)


def _etag_of(response: httpx.Response) -> str | None:
    if not response.content:
        return None
    etag = response.json().get("etag")
    return str(etag) if etag else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
