"""The Flow Service's verbs: read, list, create, patch, delete, and a dataflow's action.

Each verb is a request of the session (provisioner.platform.session: tokens, retries,
deadlines, the shared limiter, bounded answers) and a check of its answer's shape
(provisioner.platform.shapes). Economy lives here: lists follow their pages to the end
(bounded in number, never in a loop), and reads of many ids are one list call per 100, run
concurrently.

    with PlatformClient(target, ClientOptions(concurrency=8)) as client:
        flows = client.list_all("flows", [], "read the dataflows")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from provisioner.platform.auth import TokenSource
from provisioner.platform.failures import ApiCallError, MalformedAnswerError
from provisioner.platform.flow_action import (
    ActionForms,
    action_params,
    refuses_the_form,
    shown,
)
from provisioner.platform.ids import FLOW_SERVICE_PATH
from provisioner.platform.options import ClientOptions
from provisioner.platform.policy import RetryPolicy
from provisioner.platform.redact import Redactor
from provisioner.platform.session import Adopted, Call, Session
from provisioner.platform.shapes import (
    Resource,
    etag_in,
    etag_of,
    items,
    items_of,
    json_object,
    next_link,
    resource,
)
from provisioner.platform.target import Target

__all__ = [
    "DEFAULT_POLICY",
    "MAX_PAGES",
    "PAGE_LIMIT",
    "ClientOptions",
    "Created",
    "PlatformClient",
    "RetryPolicy",
]

log = logging.getLogger("provisioner.http")

PAGE_LIMIT = 100  # the most a list call returns
MAX_PAGES = 1000  # 100,000 objects of one kind: far beyond any sandbox, short of forever
# The policy of a client whose options name none; read when a client is made, so that a
# test can swap it for one that backs off in milliseconds.
DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Created:
    id: str
    etag: str | None
    adopted: bool  # found after an ambiguous failure instead of created by this call


class PlatformClient:
    """The Flow Service (and, through `call`, any platform service) for one target."""

    def __init__(self, target: Target, options: ClientOptions | None = None) -> None:
        options = options or ClientOptions()
        self.target = target
        self.concurrency = max(1, options.concurrency)
        self.session = Session(target, options, options.policy or DEFAULT_POLICY)
        self.action_forms = ActionForms()
        self._base = options.base_url or target.url

    @property
    def request_count(self) -> int:
        return self.session.request_count

    @property
    def tokens(self) -> TokenSource:
        return self.session.tokens

    @property
    def deadline(self) -> float:
        return self.session.deadline

    @property
    def redact(self) -> Redactor:
        return self.session.redact

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        call = Call(
            operation,
            method,
            self._base + service + path,
            service + path.split("?", 1)[0],
            params=params,
            json_body=body,
            if_match=if_match,
            ok=frozenset(ok),
            reads_only=reads_only,
        )
        outcome = self.session.run(call)
        assert isinstance(outcome, httpx.Response)  # only a create can adopt
        return outcome

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
        found = items(f"{operation}: GET {FLOW_SERVICE_PATH}{path}", response, kind)
        return found[0] if found else None

    def list_all(self, kind: str, filters: Sequence[str], operation: str) -> list[Resource]:
        """Every object matching all `filters`, following continuation links.

        Stops with an error at a link seen before (a paging loop) or past MAX_PAGES."""
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "property": list(filters)}
        path, listed, seen = f"/{kind}", [], set()
        where = f"{operation}: GET {FLOW_SERVICE_PATH}/{kind}"
        for _ in range(MAX_PAGES):
            response = self.call(operation, "GET", path, params=params)
            page = json_object(where, response)
            listed.extend(items_of(where, page, response.status_code, kind))
            href = next_link(where, page, response.status_code)
            if href is None:
                return listed
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
        call = Call(
            operation,
            "POST",
            f"{self._base}{FLOW_SERVICE_PATH}/{kind}",
            f"{FLOW_SERVICE_PATH}/{kind}",
            json_body=body,
            ok=frozenset({200, 201}),
            settle=find_existing,
        )
        outcome = self.session.run(call)
        if isinstance(outcome, Adopted):
            found = resource(call.where, outcome.resource)
            log.info("%s: the create went through after all; adopted %s", operation, found["id"])
            return Created(found["id"], etag_in(found), adopted=True)
        made = resource(call.where, json_object(call.where, outcome), outcome.status_code)
        return Created(made["id"], etag_in(made), adopted=False)

    def patch(
        self, kind: str, resource_id: str, operations: list[Resource], etag: str, operation: str
    ) -> str | None:
        """Apply JSON Patch ops with If-Match; the new etag, or None when answered 202."""
        path = f"/{kind}/{resource_id}"
        response = self.call(
            operation, "PATCH", path, body=operations, if_match=etag, ok=(200, 202)
        )
        return etag_of(f"{operation}: PATCH {FLOW_SERVICE_PATH}{path}", response)

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
            return etag_of(f"{operation}: POST {FLOW_SERVICE_PATH}{path}", response)
        raise _both_forms_refused(refused)


def _both_forms_refused(refused: list[tuple[str, ApiCallError]]) -> ApiCallError:
    last = refused[-1][1]
    return ApiCallError(
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
