"""List queries as the Flow Service documents them: filters, ordering, paging.

`property=<path><op><value>` with `==`, `!=`, `>`, `<`, `>=`, `<=` (or a bare path: the
property exists); comma-separated values are an OR list; several filters are ANDed; array
steps are written `name[]`. `orderby=[+|-]field,...`. Paging is by continuation token: an
opaque, `=`-free string that carries the query and the last key served, so a page resumes
after that key even if objects were created or deleted meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from provisioner.emulator.errors import ApiError, bad_request
from provisioner.emulator.store import Entry, Resource

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
_FILTER = re.compile(r"^(?P<path>[A-Za-z0-9_$.\[\]-]+?)(?:(?P<op>==|!=|>=|<=|>|<)(?P<value>.*))?$")
_UNSUPPORTED_OP = re.compile(r"[~!]>|~|!(?!=)")
_ORDER = re.compile(r"^(?P<sign>[+-]?)(?P<path>[A-Za-z0-9_.]+)$")


@dataclass(frozen=True)
class Filter:
    text: str
    steps: tuple[tuple[str, bool], ...]  # (key, iterate the array at this key)
    op: str | None
    values: tuple[str, ...]
    value_set: frozenset[str] = frozenset()

    def matches(self, resource: Resource) -> bool:
        leaves = _leaves(resource, self.steps)
        if self.op is None:
            return bool(leaves)
        if self.op in ("==", "!="):
            # A set lookup: an OR list of 100 ids costs one probe per leaf, not 100.
            found = any(_is_scalar(leaf) and _text(leaf) in self.value_set for leaf in leaves)
            return found if self.op == "==" else not found
        return any(_compare(leaf, self.op, v) for leaf in leaves for v in self.values)


@dataclass(frozen=True)
class Query:
    filters: tuple[str, ...] = ()
    orderby: str = ""
    limit: int = DEFAULT_LIMIT


def parse_filter(text: str) -> Filter:
    match = _FILTER.match(text)
    if match is None:
        if _UNSUPPORTED_OP.search(text):
            raise bad_request("1448", f"Unsupported operator in filter '{text}'")
        raise bad_request("1440", f"Invalid filter '{text}'")
    steps = []
    for part in match["path"].split("."):
        is_array = part.endswith("[]")
        key = part[:-2] if is_array else part
        if not key or "[" in key or "]" in key:
            raise bad_request("1440", f"Invalid property path in filter '{text}'")
        steps.append((key, is_array))
    value = match["value"]
    values = tuple(v.strip() for v in value.split(",")) if value is not None else ()
    return Filter(text, tuple(steps), match["op"], values, frozenset(values))


def _leaves(value: Any, steps: tuple[tuple[str, bool], ...]) -> list[Any]:
    if not steps:
        return [value]
    (key, is_array), rest = steps[0], steps[1:]
    if not isinstance(value, dict) or key not in value:
        return []
    child = value[key]
    if is_array:
        if not isinstance(child, list):
            return []
        return [leaf for item in child for leaf in _leaves(item, rest)]
    return _leaves(child, rest)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _is_scalar(leaf: Any) -> bool:
    return not isinstance(leaf, dict | list)


def _compare(leaf: Any, op: str, wanted: str) -> bool:
    if isinstance(leaf, dict | list | bool) or leaf is None:
        return False
    left: Any = leaf
    right: Any = wanted
    if isinstance(leaf, int | float):
        try:
            right = float(wanted)
        except ValueError:
            left = _text(leaf)
    else:
        left = str(leaf)
    outcome: bool = {
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }[op]
    return outcome


def parse_order(text: str) -> list[tuple[str, bool]]:
    """`-name,+createdAt` -> [("name", True), ("createdAt", False)]: (path, descending)."""
    order = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _ORDER.match(part)
        if match is None:
            raise bad_request("1432", f"Invalid sort parameter '{part}'")
        order.append((match["path"], match["sign"] == "-"))
    if text and not order:
        raise bad_request("1433", "The sort parameter is empty")
    return order


@total_ordering
class _Key:
    """A sortable value: numbers before strings before missing values; reversible."""

    def __init__(self, raw: Any, descending: bool) -> None:
        self.raw = raw
        self.descending = descending
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            self.rank: tuple[int, Any] = (0, raw)
        elif raw is None:
            self.rank = (2, "")
        else:
            self.rank = (1, raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.rank == other.rank

    def __lt__(self, other: _Key) -> bool:
        if self.rank[0] == 2 or other.rank[0] == 2:  # missing values last either way
            return self.rank[0] < other.rank[0]
        return other.rank < self.rank if self.descending else self.rank < other.rank

    def __hash__(self) -> int:
        return hash(self.rank)


def _raw_value(resource: Resource, path: str) -> Any:
    value: Any = resource
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _sort_raw(entry: Entry, order: list[tuple[str, bool]]) -> list[Any]:
    """The raw values a resource sorts by; the default is most recently written first."""
    seq, resource = entry
    if not order:
        return [seq, resource["id"]]
    return [_raw_value(resource, path) for path, _ in order] + [resource["id"]]


def _sort_key(raw: list[Any], order: list[tuple[str, bool]]) -> tuple[Any, ...]:
    if not order:  # the common case, kept cheap: newest write first, then id
        return (-raw[0], raw[1])
    directions = [d for _, d in order] + [False]  # the id breaks ties, ascending
    return tuple(_Key(value, desc) for value, desc in zip(raw, directions, strict=True))


@dataclass(frozen=True)
class Page:
    items: list[Resource]
    next_token: str | None


def run_query(entries: list[Entry], query: Query, after: list[Any] | None) -> Page:
    filters = [parse_filter(f) for f in query.filters]
    order = parse_order(query.orderby)
    chosen = [e for e in entries if all(f.matches(e[1]) for f in filters)]
    keyed = sorted(
        ((_sort_key(_sort_raw(e, order), order), e) for e in chosen), key=lambda pair: pair[0]
    )
    if after is not None:
        last = _sort_key(after, order)
        keyed = [pair for pair in keyed if pair[0] > last]
    page = keyed[: query.limit]
    more = len(keyed) > query.limit
    token = encode_token(query, _sort_raw(page[-1][1], order)) if more and page else None
    return Page([entry[1] for _, entry in page], token)


def count_matches(entries: list[Entry], filters: tuple[str, ...]) -> int:
    parsed = [parse_filter(f) for f in filters]
    return sum(1 for _, resource in entries if all(f.matches(resource) for f in parsed))


def encode_token(query: Query, after: list[Any]) -> str:
    state = {"f": list(query.filters), "o": query.orderby, "l": query.limit, "a": after}
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[Query, list[Any]]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        state = json.loads(raw)
        query = Query(tuple(state["f"]), state["o"], int(state["l"]))
        return query, list(state["a"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ApiError(400, "1441", f"Invalid continuation token '{token}'") from None


def parse_limit(text: str | None, default: int = DEFAULT_LIMIT) -> int:
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError:
        raise bad_request("1436", f"limit must be a whole number, got '{text}'") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request("1436", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
