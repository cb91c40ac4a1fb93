"""Audience names in a plan, from the platform where the manifests give none."""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.plan.model import FlowChange, Plan


def label_plan(plan: Plan, names_by_id: Mapping[str, str]) -> None:
    """Fill the plan's audience names from the platform where the manifest gives none, so
    every audience shows with its name and id."""
    for change in plan.changes:
        if not isinstance(change, FlowChange) or change.audiences is None:
            continue
        shown = [*change.audiences.add, *change.audiences.remove, *change.audiences.update]
        for audience_id in shown:
            name = names_by_id.get(audience_id.lower())
            if name and not change.audience_names.get(audience_id):
                change.audience_names[audience_id] = name
