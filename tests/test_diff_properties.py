"""Property tests of the dataflow diff: its JSON Patch, applied, leaves nothing to change.

For any live dataflow (audiences and attributes in any order, with repeats, ids in any
case, fields the manifest leaves out) and any desired one, applying `diff_flow`'s patch
with an independent RFC 6902 applier and diffing again finds nothing; removes come in
descending index order, between the replaces and the adds; and the patch means the same
applied one operation after another or against the original arrays.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.plan.diff import diff_flow, live_attributes, live_audiences
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.state.desired import DesiredAudience, DesiredFlow
from tests.plan_fixtures import KINESIS, target_params

Resource = dict[str, Any]
IDS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"audience-{i}")) for i in range(8)]
PATHS = ["person.name", "personalEmail.address", "a.b", "a.c", "homeAddress.city", "x"]
TEXTS = ("", "Men over 50", "men over 50", "Lapsed; 90 days", "é", "  ")


def _live_value(
    audience_id: str, upper: bool, name: str | None, description: str | None, extra: bool
) -> Resource:
    value: Resource = {"id": audience_id.upper() if upper else audience_id}
    if name is not None:
        value["name"] = name
    if description is not None:
        value["description"] = description
    if extra:
        value["extra"] = "kept as the platform returned it"
    return {"type": "PLATFORM_SEGMENT", "value": value}


# Every variant of a live selector, drawn by index: one draw per selector keeps thousands
# of cases within seconds.
SELECTORS = [
    _live_value(i, upper, name, description, extra)
    for i in IDS
    for upper in (False, True)
    for name in (None, *TEXTS)
    for description in (None, *TEXTS)
    for extra in (False, True)
]
FLOW_TEXTS = [None, "orders", "edited in the UI", ""]
# Strategies built once (built in a composite, each draw would pay for their labels).
SEGMENT_LISTS = st.lists(st.integers(0, len(SELECTORS) - 1), max_size=10)
PATH_LISTS = st.lists(st.sampled_from(PATHS), max_size=8)
FLOW_FIELDS = st.tuples(
    st.sampled_from(FLOW_TEXTS),
    st.sampled_from(FLOW_TEXTS),
    st.sampled_from(["enabled", "disabled"]),
)


@st.composite
def live_flows(draw: st.DrawFn) -> Resource:
    segments = [SELECTORS[i] for i in draw(SEGMENT_LISTS)]
    paths = draw(PATH_LISTS)
    name, description, state = draw(FLOW_FIELDS)
    flow: Resource = {
        "id": "flow-1",
        "state": state,
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "segmentSelectors": {"selectors": copy.deepcopy(segments)},
                    "profileSelectors": {
                        "selectors": [
                            {"type": "JSON_PATH", "value": {"path": p, "operator": "EXISTS"}}
                            for p in paths
                        ]
                    },
                },
            }
        ],
    }
    if name is not None:
        flow["name"] = name
    if description is not None:
        flow["description"] = description
    return flow


AUDIENCE_FIELDS = [(n, d) for n in (None, *TEXTS) for d in (None, *TEXTS)]
AUDIENCE_LISTS = st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(AUDIENCE_FIELDS)))
ATTRIBUTE_LISTS = st.lists(st.sampled_from(PATHS), unique=True, max_size=6)
DESIRED_FIELDS = st.tuples(
    st.sampled_from(["orders", "Summer; EU"]), st.sampled_from(["", "Order events"]), st.booleans()
)


@st.composite
def desired_flows(draw: st.DrawFn) -> DesiredFlow:
    chosen = draw(AUDIENCE_LISTS)
    name, description, enabled = draw(DESIRED_FIELDS)
    audiences = {i: DesiredAudience(i, *fields) for i, fields in dict(chosen).items()}
    return DesiredFlow(
        name=name,
        description=description,
        enabled=enabled,
        type=KINESIS,
        account="orders-account",
        target_params=target_params(KINESIS),
        audiences=audiences,
        attributes=draw(ATTRIBUTE_LISTS),
    )


# An RFC 6902 applier of its own (add, remove, replace), so that a bug shared with the
# emulator's cannot hide one in the diff.


def _pointer(path: str) -> list[str]:
    assert path.startswith("/")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_ops(document: Resource, ops: list[Resource]) -> Resource:
    result = copy.deepcopy(document)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            if op["op"] == "add":
                node.insert(len(node) if last == "-" else int(last), op["value"])
            elif op["op"] == "replace":
                assert int(last) < len(node)
                node[int(last)] = op["value"]
            else:
                del node[int(last)]
        elif op["op"] == "remove":
            del node[last]
        else:
            assert op["op"] == "add" or last in node, op
            node[last] = op["value"]
    return result


def _indices(ops: list[Resource], array: str, kind: str) -> list[int]:
    prefix = array + "/"
    return [
        int(op["path"][len(prefix) :])
        for op in ops
        if op["op"] == kind and op["path"].startswith(prefix) and not op["path"].endswith("-")
    ]


@settings(max_examples=1000, deadline=None, database=None)
@given(live_flows(), desired_flows())
def test_the_patch_converges_in_order(live: Resource, desired: DesiredFlow) -> None:
    diff = diff_flow(live, desired)
    after = apply_ops(live, diff.patch)
    again = diff_flow(after, desired)
    assert again.patch == [] and again.fields == {}, again
    assert again.enabled == diff.enabled  # the state changes by the flow action, not a patch
    # Every audience and attribute once, exactly those the manifest names.
    audience_ids = [i for _, i, _ in live_audiences(after)]
    assert sorted(audience_ids) == sorted(desired.audiences)
    assert sorted(p for _, p in live_attributes(after)) == sorted(desired.attributes)
    # What the manifest says of an audience holds; the platform's other fields stay.
    for _, audience_id, value in live_audiences(after):
        wanted = desired.audiences[audience_id]
        for name in ("name", "description"):
            if getattr(wanted, name) is not None:
                assert (value.get(name) or "") == getattr(wanted, name)
    check_order(live, diff.patch)


def check_order(live: Resource, ops: list[Resource]) -> None:
    """Replaces, then removes in descending index order, then adds at the end."""
    for array in (SEGMENT_SELECTORS, PROFILE_SELECTORS):
        mine = [op for op in ops if op["path"].startswith(array + "/")]
        kinds = [op["op"] for op in mine]
        rank = {"replace": 0, "remove": 1, "add": 2}
        assert kinds == sorted(kinds, key=rank.__getitem__), kinds
        removes = _indices(mine, array, "remove")
        assert removes == sorted(removes, reverse=True) and len(set(removes)) == len(removes)
        assert all(op["path"].endswith("/-") for op in mine if op["op"] == "add")
        # Removes in descending order mean the same against the original array: removing
        # those indices all at once gives what one after another gave.
        original = _selectors(live, array)
        replaced = apply_ops(live, [op for op in mine if op["op"] == "replace"])
        at_once = [s for i, s in enumerate(_selectors(replaced, array)) if i not in set(removes)]
        one_by_one = apply_ops(replaced, [op for op in mine if op["op"] == "remove"])
        assert _selectors(one_by_one, array) == at_once
        assert len(at_once) == len(original) - len(removes)


def _selectors(flow: Resource, array: str) -> list[Any]:
    node: Any = flow
    for part in _pointer(array):
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert isinstance(node, list)
    return node


@settings(max_examples=200, deadline=None, database=None)
@given(live_flows(), st.randoms())
def test_order_does_not_matter(live: Resource, chance: Any) -> None:
    """A desired dataflow equal to the live one up to order (and id case) needs nothing."""
    audiences: dict[str, DesiredAudience] = {}
    for _, audience_id, value in live_audiences(live):
        audiences.setdefault(
            audience_id, DesiredAudience(audience_id, value.get("name"), value.get("description"))
        )
    keys = list(audiences)
    chance.shuffle(keys)
    attributes = list(dict.fromkeys(p for _, p in live_attributes(live)))
    chance.shuffle(attributes)
    wanted = DesiredFlow(
        name=live.get("name") or "",
        description=live.get("description") or "",
        enabled=live["state"] == "enabled",
        type=KINESIS,
        account="a",
        target_params=target_params(KINESIS),
        audiences={k: audiences[k] for k in keys},
        attributes=attributes,
    )
    diff = diff_flow(live, wanted)
    repeats = len(live_audiences(live)) - len(audiences)
    repeats += len(live_attributes(live)) - len(attributes)
    # Only the repeats go (one remove each); nothing else changes.
    assert [op["op"] for op in diff.patch] == ["remove"] * repeats
    assert diff.fields == {} and diff.enabled is None
