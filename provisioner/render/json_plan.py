"""The plan as JSON for machines (contract section 4): the plan itself, with each dataflow
change's `audiences` and `attributes` read from what apply sends (its patch, or its spec for
a create), so a summary cannot disagree with the operations it sums up."""

from __future__ import annotations

import json

from provisioner.plan.model import FlowChange, Plan
from provisioner.render.steps import selector_changes


def render_json(plan: Plan) -> str:
    return json.dumps(as_shown(plan).as_json(), indent=2) + "\n"


def as_shown(plan: Plan) -> Plan:
    """The plan with its dataflow changes' summaries taken from their operations."""
    changes = [
        _summed_up(change) if isinstance(change, FlowChange) else change for change in plan.changes
    ]
    return plan.model_copy(update={"changes": changes})


def _summed_up(change: FlowChange) -> FlowChange:
    found = selector_changes(change)
    if found is None:
        return change
    audiences, attributes = found
    return change.model_copy(update={"audiences": audiences, "attributes": attributes})
