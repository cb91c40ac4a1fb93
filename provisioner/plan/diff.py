"""Keyed, order-insensitive diffs, and the JSON Patch that turns live into desired.

Audiences are keyed by id and attributes by path, so reordering a manifest changes
nothing. The patch is computed against the live arrays:
whole-selector replaces first (they move nothing), then removes in descending index order
(each leaves the indices below it in place, so the ops are right whether the platform
applies them one after another, as RFC 6902 says, or against the original array), then
adds with `-`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.platform.flow_action import is_enabled
from provisioner.platform.ids import PLATFORM_CLIENTS, PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.state.desired import DesiredAudience, DesiredFlow

Resource = dict[str, Any]
Op = dict[str, Any]
AUDIENCE_FIELDS = ("name", "description")
REMOVED_SEGMENT = {"type": "PLATFORM_SEGMENT", "value": {}}  # the placeholder the docs send
REMOVED_PROFILE = {"type": "JSON_PATH", "value": {}}


@dataclass
class KeyedDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def keyed_diff(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> KeyedDiff:
    """What was added, removed, and changed (field by field) between two keyed mappings,
    each in its mapping's own order (the manifest's, the live array's).

    Written out rather than handed to a general differ: the shapes are flat (a key, then a
    few named fields), and a plan of 1,000 changed dataflows made 2,000 general diffs, three
    seconds of CPU for what two set differences and a field loop say exactly."""
    result = KeyedDiff()
    if before == after:  # the common case (a drift check with no drift), and a cheap one
        return result
    result.added = [key for key in after if key not in before]
    result.removed = [key for key in before if key not in after]
    for key, new in after.items():
        old = before.get(key)
        if old is None or old == new:
            continue
        for name in dict.fromkeys([*old, *new]):
            if old.get(name) != new.get(name):
                result.changed.setdefault(key, {})[name] = (old.get(name), new.get(name))
    return result


# live selectors --------------------------------------------------------------------------


def selectors(flow: Resource, group: str) -> list[Resource]:
    transformations = flow.get("transformations") or [{}]
    params = transformations[0].get("params") or {}
    found = (params.get(group) or {}).get("selectors") or []
    return [s for s in found if isinstance(s, dict)]


def live_audiences(flow: Resource) -> list[tuple[int, str, Resource]]:
    """(index, id, selector value) of every audience on the live flow, in array order."""
    return [
        (i, str(s.get("value", {}).get("id", "")).lower(), s.get("value", {}))
        for i, s in enumerate(selectors(flow, "segmentSelectors"))
    ]


def live_attributes(flow: Resource) -> list[tuple[int, str]]:
    return [
        (i, str(s.get("value", {}).get("path", "")))
        for i, s in enumerate(selectors(flow, "profileSelectors"))
    ]


def segment_selector(audience: DesiredAudience, live: Resource | None = None) -> Resource:
    """The whole selector: the live value's fields, overridden by what the manifest says."""
    value: Resource = dict(live or {})
    value["id"] = audience.id
    for name in AUDIENCE_FIELDS:
        wanted = getattr(audience, name)
        if wanted is not None:
            value[name] = wanted
    return {"type": "PLATFORM_SEGMENT", "value": value}


def profile_selector(path: str) -> Resource:
    return {"type": "JSON_PATH", "value": {"path": path, "operator": "EXISTS"}}


# the flow patch --------------------------------------------------------------------------


@dataclass
class FlowDiff:
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name, description
    audiences: KeyedDiff = field(default_factory=KeyedDiff)
    attributes: KeyedDiff = field(default_factory=KeyedDiff)
    enabled: tuple[bool, bool] | None = None
    patch: list[Op] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.fields or self.enabled or self.patch)


def diff_flow(live: Resource, desired: DesiredFlow) -> FlowDiff:
    result = FlowDiff()
    result.patch += _field_ops(live, desired, result.fields)
    result.patch += _audience_ops(live, desired, result)
    result.patch += _attribute_ops(live, desired, result)
    enabled_now = is_enabled(live)
    if enabled_now != desired.enabled:
        result.enabled = (enabled_now, desired.enabled)
    return result


def _field_ops(
    live: Resource, desired: DesiredFlow, fields: dict[str, tuple[Any, Any]]
) -> list[Op]:
    ops: list[Op] = []
    for name, wanted in (("name", desired.name), ("description", desired.description)):
        current = live.get(name)
        if (current or "") != wanted:
            fields[name] = (current, wanted)
            ops.append(
                {"op": "replace" if name in live else "add", "path": f"/{name}", "value": wanted}
            )
    return ops


def _audience_ops(live: Resource, desired: DesiredFlow, result: FlowDiff) -> list[Op]:
    first: dict[str, tuple[int, Resource]] = {}
    repeats: list[int] = []
    for index, audience_id, value in live_audiences(live):
        if audience_id in first:
            repeats.append(index)
        else:
            first[audience_id] = (index, value)
    before = {k: _comparable(v, desired.audiences.get(k)) for k, (_, v) in first.items()}
    after = {k: _wanted(a) for k, a in desired.audiences.items()}
    result.audiences = keyed_diff(before, after)
    replaces = [
        {
            "op": "replace",
            "path": f"{SEGMENT_SELECTORS}/{first[k][0]}",
            "value": segment_selector(desired.audiences[k], first[k][1]),
        }
        for k in sorted(result.audiences.changed, key=lambda k: first[k][0])
    ]
    removed = sorted([first[k][0] for k in result.audiences.removed] + repeats, reverse=True)
    removes = [
        {"op": "remove", "path": f"{SEGMENT_SELECTORS}/{i}", "value": REMOVED_SEGMENT}
        for i in removed
    ]
    adds = [
        {
            "op": "add",
            "path": f"{SEGMENT_SELECTORS}/-",
            "value": segment_selector(desired.audiences[k]),
        }
        for k in result.audiences.added
    ]
    return replaces + removes + adds


def _comparable(value: Resource, wanted: DesiredAudience | None) -> dict[str, Any]:
    """The live fields the manifest manages: a field it leaves out is not compared."""
    if wanted is None:
        return {}
    return {
        name: value.get(name) or "" for name in AUDIENCE_FIELDS if getattr(wanted, name) is not None
    }


def _wanted(audience: DesiredAudience) -> dict[str, Any]:
    return {
        name: getattr(audience, name)
        for name in AUDIENCE_FIELDS
        if getattr(audience, name) is not None
    }


def _attribute_ops(live: Resource, desired: DesiredFlow, result: FlowDiff) -> list[Op]:
    first: dict[str, int] = {}
    repeats: list[int] = []
    for index, path in live_attributes(live):
        if path in first:
            repeats.append(index)
        else:
            first[path] = index
    result.attributes = keyed_diff({p: {} for p in first}, {p: {} for p in desired.attributes})
    removed = sorted([first[p] for p in result.attributes.removed] + repeats, reverse=True)
    removes = [
        {"op": "remove", "path": f"{PROFILE_SELECTORS}/{i}", "value": REMOVED_PROFILE}
        for i in removed
    ]
    adds = [
        {"op": "add", "path": f"{PROFILE_SELECTORS}/-", "value": profile_selector(p)}
        for p in result.attributes.added
    ]
    return removes + adds


def digest_of(flow: Resource, target: Resource) -> str:
    """A short digest of what the tool manages on a live flow and its target, recorded at
    apply: a later difference means someone changed it outside the tool (drift)."""
    state = {
        "name": flow.get("name"),
        "description": flow.get("description") or "",
        "state": flow.get("state"),
        "audiences": sorted(
            (k, v.get("name") or "", v.get("description") or "") for _, k, v in live_audiences(flow)
        ),
        "attributes": sorted(p for _, p in live_attributes(flow)),
        "params": target.get("params") or {},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def written_last_by(clients: Collection[str], *resources: Resource) -> bool | None:
    """Whether the platform records one of `clients` as the last to write every one of
    `resources`.

    Every Flow Service object carries `updatedClient`: the IMS client that last changed it
    (`exc_app` for the Experience Platform UI). False as soon as one object was last written
    by another client than the tool's or the platform's own. None where that cannot be
    told: no client is known, an object does not carry the field, or the platform itself
    wrote last (after a run, say: that write hides who wrote before it).
    """
    writers = [r.get("updatedClient") for r in resources]
    if not clients or any(not isinstance(w, str) or not w for w in writers):
        return None
    if any(w not in clients and w not in PLATFORM_CLIENTS for w in writers):
        return False
    if any(w in PLATFORM_CLIENTS for w in writers):
        return None
    return True


def drifted(flow: Resource, target: Resource, applied: str, clients: Collection[str]) -> bool:
    """Changed outside this tool since it last applied the dataflow.

    As recorded (`applied`, the digest written at apply) is never drift. Otherwise the
    platform's own record of the last writer decides (one of the tool's `clients`, or not),
    so an apply need not write a digest of its own; where the platform does not say (the
    record is missing, or names the platform's own client, which writes after every run),
    a recorded digest that no longer matches does, and without one nothing reads as drift.
    """
    if applied and applied == digest_of(flow, target):
        return False
    ours = written_last_by(clients, flow, target)
    if ours is not None:
        return not ours
    return bool(applied)


def unattributed(flow: Resource, target: Resource, applied: str, clients: Collection[str]) -> bool:
    """The platform's own client wrote last and no recorded digest tells what the tool
    left: whether the dataflow differs from the manifest because the manifest changed or
    because someone edited it before that write cannot be told (a change, never accepted
    silently; labelled so rather than as drift)."""
    if applied:
        return False
    writers = [r.get("updatedClient") for r in (flow, target)]
    return (
        any(w in PLATFORM_CLIENTS for w in writers)
        and written_last_by(clients, flow, target) is None
    )
