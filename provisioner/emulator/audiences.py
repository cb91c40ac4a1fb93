"""The Segmentation Service's Audiences API: list, read by id, bulk read.

Audiences are seeded, per sandbox, from a file, a command or a test endpoint; nothing here
creates them through the API. A sandbox never seeded knows every audience: any well-formed
UUID reads as an active audience with an empty name, and its list is empty, so manifests
that name audiences by id work on a fresh emulator. A seeded sandbox knows exactly its
audiences. A sandbox can be set to answer 403, as an organisation not enabled for audiences.
A seeded audience may say how many profiles it has (`totalProfiles`): the emulator's runs
export that many (`profiles.py`).

Errors use the service's own shape: `{requestId, errors: {STATUS: [{code, message}]}, type,
title, status}`. A `property` filter whose operator is not `==` is refused as a live platform
refused one: 400 `NEBULA-100058-400` "Unknown operator", never an empty list.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.emulator.resources import Caller, sandbox_id
from provisioner.emulator.store import Resource, Store

SEGMENTATION_PATH = "/data/core/ups"
AUDIENCES_PATH = SEGMENTATION_PATH + "/audiences"
KIND = "audiences"
SEEDED = "audiences-seeded"
DISABLED = "audiences-disabled"
LIFECYCLE_STATES = ("active", "published", "draft", "inactive", "archived")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
MAX_BULK_IDS = 100
SEED_FIELDS = frozenset({"id", "name", "description", "lifecycleState", "totalProfiles"})
MAX_TOTAL_PROFILES = 10_000  # every member is exported by each run: keep them few

Answer = tuple[int, Any]  # (status, JSON payload)
# A property filter: an attribute, an operator (any run of comparison signs), a value.
_PROPERTY = re.compile(r"(?P<attribute>[A-Za-z0-9_.]+)\s*(?P<op>[=!<>~]+)(?P<value>.*)")


class SeedError(ValueError):
    """A seed (file, command or test endpoint) that does not have the documented shape."""


class UnknownOperator(Exception):
    """A `property` filter written with an operator the API does not have."""

    def __init__(self, operator: str, condition: str) -> None:
        super().__init__(operator)
        self.operator = operator
        self.condition = condition

    def body(self) -> dict[str, Any]:
        code = "NEBULA-100058-400"
        message = f"Unknown operator '{self.operator}'; a property filter is attribute==value"
        return {
            "type": f"https://ns.adobe.com/aep/errors/{code}",
            "title": "Unknown operator",
            "status": 400,
            "errors": {"400": [{"code": code, "message": message, "value": self.condition}]},
        }


class AudienceApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "requestId": uuid.uuid4().hex,
            "errors": {str(self.status): [{"code": self.status, "message": self.message}]},
            "type": f"https://ns.adobe.com/aep/errors/UPAPI-{self.code}-{self.status}",
            "title": self.message,
            "status": self.status,
        }


@dataclass(frozen=True)
class AudienceSeed:
    """One seeded audience, as a seed file gives it."""

    id: str
    name: str
    description: str = ""
    lifecycle_state: str = "active"
    total_profiles: int | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> AudienceSeed:
        if not isinstance(raw, Mapping):
            raise SeedError(f"{where}: an audience is a mapping with id and name")
        unknown = sorted(set(raw) - SEED_FIELDS)
        if unknown:
            raise SeedError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
        audience_id, name = _required_text(raw, "id", where), _required_text(raw, "name", where)
        description = raw.get("description")
        description = "" if description is None else description
        if not isinstance(description, str):
            raise SeedError(f"{where}: 'description' must be a string")
        state = raw.get("lifecycleState")
        state = "active" if state is None else state
        if state not in LIFECYCLE_STATES:
            allowed = ", ".join(LIFECYCLE_STATES)
            raise SeedError(f"{where}: 'lifecycleState' must be one of {allowed}")
        return cls(audience_id, name, description, state, _total_profiles(raw, where))


def _total_profiles(raw: Mapping[str, Any], where: str) -> int | None:
    total = raw.get("totalProfiles")
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int):
        raise SeedError(f"{where}: 'totalProfiles' must be a whole number")
    if not 0 <= total <= MAX_TOTAL_PROFILES:
        raise SeedError(f"{where}: 'totalProfiles' must be between 0 and {MAX_TOTAL_PROFILES}")
    return total


def _required_text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SeedError(f"{where}: '{key}' is required and must be a non-empty string")
    return value


def parse_seed(data: Any, sandbox: str | None = None) -> dict[str, list[AudienceSeed]]:
    """Sandbox name -> audiences, from a seed document: a mapping of sandbox names to lists
    of audiences, or (with `sandbox`) a bare list of audiences for that sandbox."""
    if isinstance(data, list) and sandbox is not None:
        data = {sandbox: data}
    if not isinstance(data, Mapping):
        raise SeedError("a seed maps sandbox names to lists of audiences")
    if sandbox is not None:
        if sandbox not in data:
            raise SeedError(f"the seed has no sandbox '{sandbox}'")
        data = {sandbox: data[sandbox]}
    seeds: dict[str, list[AudienceSeed]] = {}
    for name, audiences in data.items():
        if not isinstance(name, str) or not name:
            raise SeedError("a sandbox name must be a non-empty string")
        if audiences is None:
            audiences = []
        if not isinstance(audiences, list):
            raise SeedError(f"{name}: the audiences of a sandbox are a list")
        parsed = [AudienceSeed.parse(a, f"{name}[{i}]") for i, a in enumerate(audiences)]
        ids = [a.id for a in parsed]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise SeedError(f"{name}: audience id(s) listed twice: {', '.join(duplicates)}")
        seeds[name] = parsed
    return seeds


def load_seed_file(path: str | Path, sandbox: str | None = None) -> dict[str, list[AudienceSeed]]:
    """Read a seed file (YAML, or JSON, which is YAML too)."""
    # Imported here: only seeding needs YAML, and the emulator starts faster without it.
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SeedError(f"cannot read {path}: {error}") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        raise SeedError(f"{path} is not valid YAML: {error}") from None
    try:
        return parse_seed(data, sandbox)
    except SeedError as error:
        raise SeedError(f"{path}: {error}") from None


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class Audiences:
    """The audiences of every sandbox, kept in the emulator's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # seeding -------------------------------------------------------------------------

    def seed(
        self,
        sandbox: str,
        audiences: Iterable[AudienceSeed | Mapping[str, Any]],
        replace: bool = False,
    ) -> int:
        """Add (or update, by id) audiences in `sandbox`, which from now on knows only its
        seeded audiences; `replace` forgets the ones not given. Returns how many were given."""
        seeds = [
            a if isinstance(a, AudienceSeed) else AudienceSeed.parse(a, f"{sandbox}[{i}]")
            for i, a in enumerate(audiences)
        ]
        with self.store.transaction():
            self.store.record_sandbox(sandbox)  # seeding a sandbox makes it exist
            self.store.set_flag(sandbox, SEEDED, True)
            if replace:
                for _, existing in self.store.entries(KIND, sandbox):
                    self.store.delete(KIND, sandbox, existing["id"])
            for seed in seeds:
                self._put(sandbox, seed)
        return len(seeds)

    def seed_all(
        self, seeds: Mapping[str, list[AudienceSeed]], replace: bool = False
    ) -> dict[str, int]:
        return {
            sandbox: self.seed(sandbox, audiences, replace) for sandbox, audiences in seeds.items()
        }

    def forget(self, sandbox: str) -> None:
        """Drop the sandbox's audiences: it knows every audience again, as if never seeded."""
        with self.store.transaction():
            for _, existing in self.store.entries(KIND, sandbox):
                self.store.delete(KIND, sandbox, existing["id"])
            self.store.set_flag(sandbox, SEEDED, False)

    def set_enabled(self, sandbox: str, enabled: bool) -> None:
        """A disabled sandbox answers every Audiences request 403, as an organisation that is
        not enabled for audiences does."""
        with self.store.transaction():
            self.store.set_flag(sandbox, DISABLED, not enabled)

    def seeded(self, sandbox: str) -> bool:
        return self.store.has_flag(sandbox, SEEDED)

    def enabled(self, sandbox: str) -> bool:
        return not self.store.has_flag(sandbox, DISABLED)

    def stored(self, sandbox: str) -> list[Resource]:
        """The seeded audiences of a sandbox, sorted by name then id."""
        audiences = [a for _, a in self.store.entries(KIND, sandbox)]
        return sorted(audiences, key=lambda a: (a["name"].lower(), a["id"]))

    def _put(self, sandbox: str, seed: AudienceSeed) -> None:
        fields: dict[str, Any] = {
            "id": seed.id,
            "name": seed.name,
            "description": seed.description,
            "lifecycleState": seed.lifecycle_state,
        }
        if seed.total_profiles is not None:
            fields["totalProfiles"] = seed.total_profiles
        current = self.store.get(KIND, sandbox, seed.id)
        if current is not None and _same(current, fields):
            return  # seeding the same file twice changes nothing, timestamps included
        now = self.store.now_ms()
        created = current["createdAt"] if current is not None else now
        self.store.put(
            KIND,
            sandbox,
            {**fields, "createdAt": created, "updatedAt": now, "etag": self.store.new_etag()},
        )

    # the API -------------------------------------------------------------------------

    def respond(
        self, method: str, subpath: str, query: Mapping[str, list[str]], body: bytes, caller: Caller
    ) -> Answer:
        """Answer a request below AUDIENCES_PATH (`subpath` is what follows it)."""
        try:
            if not self.enabled(caller.sandbox):
                raise AudienceApiError(
                    403, "113740", "The IMS Org is not enabled for External Segment."
                )
            parts = [p for p in subpath.split("/") if p]
            if not parts:
                _only(method, "GET")
                return 200, self._list(query, caller)
            if parts == ["bulk-get"]:
                _only(method, "POST")
                return self._bulk_get(body, caller)
            if len(parts) == 1:
                _only(method, "GET")
                return 200, self._read(parts[0], caller)
            raise AudienceApiError(404, "113000", f"No resource at {AUDIENCES_PATH}/{subpath}")
        except AudienceApiError as error:
            return error.status, error.body()
        except UnknownOperator as error:
            return 400, error.body()

    def _find(self, audience_id: str, caller: Caller) -> dict[str, Any] | None:
        if not self.seeded(caller.sandbox):
            return _unseeded(audience_id, caller)
        found = self.store.get(KIND, caller.sandbox, audience_id)
        return _rendered(found, caller) if found is not None else None

    def _finder(self, caller: Caller) -> Callable[[str], dict[str, Any] | None]:
        """How to find one audience of the caller's sandbox by id: the store is asked once,
        whatever the number of ids (a bulk read has up to 100)."""
        if not self.seeded(caller.sandbox):
            return lambda audience_id: _unseeded(audience_id, caller)
        stored = {a["id"]: a for _, a in self.store.entries(KIND, caller.sandbox)}

        def find(audience_id: str) -> dict[str, Any] | None:
            found = stored.get(audience_id)
            return _rendered(found, caller) if found is not None else None

        return find

    def _read(self, audience_id: str, caller: Caller) -> dict[str, Any]:
        found = self._find(audience_id, caller)
        if found is None:
            raise AudienceApiError(
                404,
                "113430",
                f"The audience entity {audience_id} is not found. "
                "Use a valid entity and try again.",
            )
        return found

    def _bulk_get(self, body: bytes, caller: Caller) -> Answer:
        ids = _bulk_ids(body)
        results: dict[str, Any] = {}
        missing = []
        find = self._finder(caller)
        for audience_id in ids:
            found = find(audience_id)
            if found is None:
                missing.append(audience_id)
                results[audience_id] = {
                    "requestId": uuid.uuid4().hex,
                    "errors": {"404": [{"code": 404, "message": "Not found."}]},
                }
            else:
                results[audience_id] = found
        if len(missing) == len(ids):
            raise AudienceApiError(404, "113000", f"The entity {','.join(missing)} is not found.")
        return 207, {"results": results}

    def _list(self, query: Mapping[str, list[str]], caller: Caller) -> dict[str, Any]:
        start = _integer(query, "start", 0, minimum=0)
        limit = _integer(query, "limit", DEFAULT_LIMIT, minimum=1)
        if limit > MAX_LIMIT:
            raise _bad_query(f"limit cannot exceed {MAX_LIMIT}")
        rendered = [_rendered(a, caller) for a in self.stored(caller.sandbox)]
        matching = [a for a in rendered if _matches(a, query)]
        sort_field, direction = _sort(query)
        matching.sort(
            key=lambda a: (_sort_key(a.get(sort_field)), a["id"]), reverse=direction == "desc"
        )
        page = matching[start : start + limit]
        total = len(matching)
        meta: dict[str, Any] = {
            "totalCount": total,
            "totalPages": math.ceil(total / limit),
            "sortField": sort_field,
            "sort": direction,
            "pageSize": len(page),
            "limit": limit,
            "start": start,
        }
        links: dict[str, Any] = {}
        if start + len(page) < total:
            meta["next"] = start + len(page)
            links["next"] = {
                "href": f"@/audiences?start={meta['next']}&limit={limit}&totalCount={total}"
            }
        return {"children": page, "_page": meta, "_links": links}


def _same(stored: Resource, fields: dict[str, Any]) -> bool:
    keys = {*fields, "totalProfiles"}
    return all(stored.get(k) == fields.get(k) for k in keys)


def _rendered(stored: Resource, caller: Caller) -> dict[str, Any]:
    """An audience as the API answers it: a Platform-generated audience."""
    created = int(stored.get("createdAt", 0))
    updated = int(stored.get("updatedAt", 0))
    return {
        "id": stored["id"],
        "audienceId": stored["id"],
        "schema": {"name": "_xdm.context.profile"},
        "imsOrgId": caller.org,
        "sandbox": {
            "sandboxId": sandbox_id(caller.sandbox),
            "sandboxName": caller.sandbox,
            "type": "production" if caller.sandbox == "prod" else "development",
            "default": caller.sandbox == "prod",
        },
        "name": stored["name"],
        "description": stored["description"],
        "isSystem": False,
        "type": "SegmentDefinition",
        "namespace": "AEPSegments",
        "originName": "REAL_TIME_CUSTOMER_PROFILE",
        "lifecycleState": stored["lifecycleState"],
        "creationTime": created,
        "createEpoch": created // 1000,
        "updateTime": updated,
        "updateEpoch": updated // 1000,
        "_etag": stored.get("etag", '"00000000-0000-0200-0000-000000000000"'),
        "dependents": [],
        "dependencies": [],
    }


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise AudienceApiError(405, "113001", f"{method} is not allowed here")


def _bad_query(message: str) -> AudienceApiError:
    return AudienceApiError(400, "113008", f"Invalid query parameter: {message}")


def _last(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _integer(query: Mapping[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = _last(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_query(f"{name} must be an integer") from None
    if value < minimum:
        raise _bad_query(f"{name} must be at least {minimum}")
    return value


def _matches(audience: dict[str, Any], query: Mapping[str, list[str]]) -> bool:
    for field in ("name", "description"):
        wanted = _last(query, field)
        if wanted and wanted.lower() not in str(audience[field]).lower():
            return False
    entity_type = _last(query, "entityType")
    if entity_type and audience["schema"]["name"] != entity_type:
        return False
    for condition in query.get("property", []):
        attribute, value = _property(condition)
        if str(audience.get(attribute, "")) != value:
            return False
    return True


def _property(condition: str) -> tuple[str, str]:
    """(attribute, value) of a `property` filter, which is documented with `==` alone."""
    match = _PROPERTY.fullmatch(condition.strip())
    if match is None:
        raise _bad_query("property must be written attributeName==value")
    if match["op"] != "==":
        raise UnknownOperator(match["op"], condition)
    return match["attribute"], match["value"].strip()


def _sort(query: Mapping[str, list[str]]) -> tuple[str, str]:
    raw = _last(query, "sort")
    if not raw:
        return "name", "asc"
    field, _, direction = raw.partition(":")
    direction = (direction or "asc").lower()
    if not field or direction not in ("asc", "desc"):
        raise _bad_query("sort must be written attributeName:asc or attributeName:desc")
    return field, direction


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers sort as numbers, everything else as case-insensitive text; missing fields first.
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value).lower())


def _unseeded(audience_id: str, caller: Caller) -> dict[str, Any] | None:
    """A sandbox never seeded knows every well-formed id (as an unnamed, active audience)."""
    if not is_uuid(audience_id):
        return None
    stored = {"id": audience_id, "name": "", "description": "", "lifecycleState": "active"}
    return _rendered(stored, caller)


def _bulk_ids(body: bytes) -> list[str]:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        raise AudienceApiError(400, "113015", "The request body is not valid JSON.") from None
    entries = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_BULK_IDS:
        raise AudienceApiError(
            400,
            "113015",
            f"The number of requested IDs is invalid. Cannot be 0 or exceed {MAX_BULK_IDS}.",
        )
    ids = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise AudienceApiError(
                400, "113015", 'Each requested ID must be an object {"id": ...}.'
            )
        if entry["id"] not in ids:
            ids.append(entry["id"])
    return ids
