"""Reading the Segmentation Service's Audiences API: audiences by id, and by name.

Everything goes through the platform client (its retries, deadline and answer bounds); only
the paths and the answers' shapes are this module's.

Economy: ids are read with the bulk read, 100 per request (the most it takes), so 250 ids
cost 3 requests. Names have no exact lookup: the list's `name` filter is a case-insensitive
substring match, one query per name, while a full listing costs one request per 100
audiences of the sandbox, whatever the number of names. So one name is one filtered query;
for several, the first page of the full listing is read (it tells the sandbox's total), and
the rest of the listing follows when it takes no more requests than one query per name
would, else each name gets its own query. A sandbox of up to 100 audiences thus answers any
number of names in one request, and no run costs more than one request above the cheaper
of the two ways.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioner.errors import PlatformError
from provisioner.platform.client import MAX_PAGES, PlatformClient
from provisioner.platform.failures import ApiCallError, MalformedAnswerError
from provisioner.platform.shapes import json_object, malformed

SEGMENTATION_PATH = "/data/core/ups"
AUDIENCES = "/audiences"
BULK_GET = AUDIENCES + "/bulk-get"
BULK_LIMIT = 100  # the most ids one bulk read takes
LIST_LIMIT = 100  # audiences per page of the list
# The states in which an audience can be activated. The API documents `published` for
# audiences made on the platform; `active` is what newer answers (and the emulator) say. An
# audience whose answer gives no state at all is taken as usable: nothing says otherwise.
USABLE_STATES = frozenset({"active", "published"})
MAX_SIMILAR = 5
CHECK_IDS = "check the manifests' audience ids"
FIND_NAMES = "look up the manifests' audiences by name"


class AudiencesUnavailable(PlatformError):
    """The Audiences API answered 403: the organisation is not enabled for audiences (or
    the credential may not read them)."""


@dataclass(frozen=True)
class PlatformAudience:
    id: str
    name: str
    lifecycle_state: str
    description: str = ""

    @property
    def usable(self) -> bool:
        return not self.lifecycle_state or self.lifecycle_state.lower() in USABLE_STATES


@dataclass
class NameMatches:
    """What the sandbox holds for names looked up: every audience seen (in any state), from
    which exact matches and similar names are taken."""

    seen: dict[str, PlatformAudience] = field(default_factory=dict)  # lowercased id ->

    def add(self, audiences: Iterable[PlatformAudience]) -> None:
        for audience in audiences:
            self.seen.setdefault(audience.id.lower(), audience)

    def exact(self, name: str) -> list[PlatformAudience]:
        """Audiences named exactly `name` (case-sensitive), in any state, sorted by id."""
        return sorted((a for a in self.seen.values() if a.name == name), key=lambda a: a.id)

    def similar(self, name: str, limit: int = MAX_SIMILAR) -> list[str]:
        """Names close to `name`, ignoring case: the same letters in another case, names
        containing it, then close spellings; at most `limit`."""
        wanted = name.casefold()
        names = sorted({a.name for a in self.seen.values() if a.name and a.name != name})
        same = [n for n in names if n.casefold() == wanted]
        containing = [n for n in names if wanted in n.casefold() and n not in same]
        folded = {n.casefold(): n for n in names}
        close = [folded[n] for n in difflib.get_close_matches(wanted, list(folded), n=limit)]
        ordered = list(dict.fromkeys(same + containing + close))
        return ordered[:limit]


class AudienceReader:
    """The audiences of the client's sandbox, read as economically as the API allows."""

    def __init__(self, client: PlatformClient) -> None:
        self.client = client

    def by_ids(self, ids: Iterable[str]) -> dict[str, PlatformAudience]:
        """The audiences among `ids` that exist, by lowercased id: one bulk read per 100.

        Raises AudiencesUnavailable on 403."""
        unique = list(dict.fromkeys(i.lower() for i in ids))
        chunks = [unique[i : i + BULK_LIMIT] for i in range(0, len(unique), BULK_LIMIT)]
        if len(chunks) <= 1:
            return self._bulk_get(chunks[0]) if chunks else {}
        # All at once: the client's limiter bounds the requests in flight, and a read that
        # waits out a Retry-After holds none of them up.
        with ThreadPoolExecutor(max_workers=min(len(chunks), 64)) as pool:
            return {i: a for found in pool.map(self._bulk_get, chunks) for i, a in found.items()}

    def by_names(self, names: Iterable[str]) -> NameMatches:
        """The audiences that may carry `names`: with one filtered query per name, or the
        full listing when that costs no more (see the module's note).

        Raises AudiencesUnavailable on 403."""
        wanted = sorted(set(names))
        matches = NameMatches()
        if not wanted:
            return matches
        if len(wanted) == 1:
            matches.add(self._list(FIND_NAMES, name=wanted[0]))
            return matches
        first, total = self._page(FIND_NAMES, 0, None)
        matches.add(first)
        remaining_pages = math.ceil(max(total - len(first), 0) / LIST_LIMIT)
        if remaining_pages <= len(wanted):
            matches.add(self._list(FIND_NAMES, start=len(first)) if remaining_pages else [])
        else:
            for name in wanted:
                matches.add(self._list(FIND_NAMES, name=name))
        return matches

    def all(self) -> list[PlatformAudience]:
        """Every audience of the sandbox (the full listing)."""
        return self._list("list the sandbox's audiences")

    # requests ------------------------------------------------------------------------

    def _bulk_get(self, chunk: Sequence[str]) -> dict[str, PlatformAudience]:
        where = f"{CHECK_IDS}: POST {SEGMENTATION_PATH}{BULK_GET}"
        try:
            response = self.client.call(
                CHECK_IDS,
                "POST",
                BULK_GET,
                body={"ids": [{"id": i} for i in chunk]},
                ok=(200, 207),
                service=SEGMENTATION_PATH,
                reads_only=True,
            )
        except ApiCallError as error:
            if error.status == 404:  # the API's answer when none of the ids exists
                return {}
            raise _unavailable(error) from None
        results = json_object(where, response).get("results")
        if not isinstance(results, dict):
            raise malformed(where, response.status_code, "no `results` object")
        found = {}
        for key, value in results.items():
            # A result is an audience, or an error object in its place (not found).
            if isinstance(value, dict) and "errors" in value and "name" not in value:
                continue
            audience = _audience(where, response.status_code, value, str(key))
            found[audience.id.lower()] = audience
        return {i: found[i] for i in chunk if i in found}

    def _list(
        self, operation: str, start: int = 0, name: str | None = None
    ) -> list[PlatformAudience]:
        """Every audience of the listing (filtered by `name`) from `start`, page by page."""
        audiences: list[PlatformAudience] = []
        for _ in range(MAX_PAGES):
            page, total = self._page(operation, start, name)
            audiences.extend(page)
            start += len(page)
            if not page or start >= total:
                return audiences
        raise MalformedAnswerError(
            f"{operation}: GET {SEGMENTATION_PATH}{AUDIENCES}: more than {MAX_PAGES} pages of "
            f"{LIST_LIMIT}; stopped reading (the platform's paging does not end)"
        )

    def _page(
        self, operation: str, start: int, name: str | None
    ) -> tuple[list[PlatformAudience], int]:
        """One page of the listing and the total it reports."""
        where = f"{operation}: GET {SEGMENTATION_PATH}{AUDIENCES}"
        params: dict[str, Any] = {"limit": LIST_LIMIT, "start": start}
        if name is not None:
            params["name"] = name
        try:
            response = self.client.call(
                operation, "GET", AUDIENCES, params=params, service=SEGMENTATION_PATH
            )
        except ApiCallError as error:
            raise _unavailable(error) from None
        body = json_object(where, response)
        children = body.get("children")
        if not isinstance(children, list):
            raise malformed(where, response.status_code, "no list of `children`")
        page = [_audience(where, response.status_code, c) for c in children]
        meta = body.get("_page")
        total = meta.get("totalCount") if isinstance(meta, dict) else None
        if not isinstance(total, int) or isinstance(total, bool):
            total = start + len(page)  # no total given: this page is the last
        return page, total


def _unavailable(error: ApiCallError) -> PlatformError:
    if error.status != 403:
        return error
    return AudiencesUnavailable(
        "the Audiences API answered 403 in this sandbox: the organisation is not enabled "
        "for audiences, or the credential may not read them"
        + (f" ({error.platform_message})" if error.platform_message else "")
    )


def _audience(where: str, status: int, value: Any, key: str | None = None) -> PlatformAudience:
    if not isinstance(value, dict):
        raise malformed(where, status, "an audience that is not an object")
    audience_id = value.get("id", key)
    if not isinstance(audience_id, str) or not audience_id:
        raise malformed(where, status, "an audience without an id")
    name = value.get("name")
    state = value.get("lifecycleState", value.get("lifecycleStatus"))
    description = value.get("description")
    return PlatformAudience(
        audience_id,
        name if isinstance(name, str) else "",
        state if isinstance(state, str) else "",
        description if isinstance(description, str) else "",
    )
