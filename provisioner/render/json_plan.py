"""The plan as JSON for machines (contract section 4): the plan itself, with each dataflow
change's `audiences` and `attributes` read from what apply sends (its patch, or its spec for
a create), so a summary cannot disagree with the operations it sums up; and no value of a
sensitive field, only the placeholder the plan writes for it, or the secret reference it
comes from (`${env:NAME}`, which says where the secret is, never what)."""

from __future__ import annotations

import json

from provisioner.plan.model import AnyChange, FieldChange, FlowChange, Plan
from provisioner.render.lines import shows_reference
from provisioner.render.steps import selector_changes, shown_sensitive


def render_json(plan: Plan) -> str:
    return json.dumps(as_shown(plan).as_json(), indent=2) + "\n"


def as_shown(plan: Plan) -> Plan:
    """The plan as its renderings show it: summaries from operations, no sensitive value."""
    return plan.model_copy(update={"changes": [_shown(change) for change in plan.changes]})


def _shown(change: AnyChange) -> AnyChange:
    update: dict[str, object] = {}
    if any(f.sensitive for f in change.fields):
        update["fields"] = [_field(f) for f in change.fields]
    if isinstance(change, FlowChange):
        found = selector_changes(change)
        if found is not None:
            update["audiences"], update["attributes"] = found
    return change.model_copy(update=update) if update else change


def _field(field: FieldChange) -> FieldChange:
    if not field.sensitive or shows_reference(field):  # a reference is no secret
        return field
    before = None if field.before is None else shown_sensitive(field.before)
    after = None if field.after is None else shown_sensitive(field.after)
    return field.model_copy(update={"before": before, "after": after})
