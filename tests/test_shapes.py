"""The quick check of an answer's shape says what the full one says, for any JSON value.

`shape_problem` runs the quick check (`fits`) on every object of every page and the full
one (`first_problem`, which names the field) only when the quick one refuses: if the two
ever disagreed, a malformed object would be taken as well formed, or a good one would end
a run with no field to name. Values are drawn around each kind's shape: its own fields,
nested as the platform nests them, with any JSON value in any place.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.platform.shapes import (
    SHAPES,
    ListOf,
    Obj,
    Spec,
    first_problem,
    fits,
    shape_problem,
)

FIELD_NAMES = sorted(
    {"id", "value", "x", "params", "selectors", "auth", "specName"}
    | {name for shape in SHAPES.values() for name in shape.fields}
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4),
    ),
    max_leaves=12,
)


def shaped_like(spec: Spec) -> st.SearchStrategy[Any]:
    """Values built on `spec`'s own layout (so that deep fields are reached), any JSON
    value standing in for a part now and then."""
    built: st.SearchStrategy[Any]
    if isinstance(spec, ListOf):
        built = st.lists(shaped_like(spec.item), max_size=3)
    elif isinstance(spec, Obj):
        fields = {name: shaped_like(inner) for name, inner in spec.fields.items()}
        built = st.fixed_dictionaries({}, optional=fields)
        if spec.values is not None:
            built = st.dictionaries(st.text(max_size=3), shaped_like(spec.values), max_size=3)
    else:
        built = scalars
    return st.one_of(built, built, built, json_values)


@pytest.mark.parametrize("kind", sorted(SHAPES))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_quick_check_agrees_with_the_full_one(kind: str, data: st.DataObject) -> None:
    shape = SHAPES[kind]
    value = data.draw(shaped_like(shape))
    assert fits(shape)(value) == (first_problem(shape, value, "") is None)


def selector_flow(value: Any) -> dict[str, Any]:
    selector = {"type": "PLATFORM_SEGMENT", "value": value}
    params = {"segmentSelectors": {"selectors": [selector]}}
    return {"id": "f1", "transformations": [{"params": params}]}


def test_an_object_that_does_not_fit_is_named_with_its_field() -> None:
    assert shape_problem("flows", selector_flow(None)) == (
        "dataflow f1 whose transformations[0].params.segmentSelectors.selectors[0].value "
        "is null, not an object"
    )
    assert shape_problem("flows", selector_flow({"id": "a1"})) is None
