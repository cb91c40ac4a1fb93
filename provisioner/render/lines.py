"""What every rendering says about a change, in words; the formats only dress it."""

from __future__ import annotations

import json
from typing import Any

from provisioner.plan.model import AnyChange, FlowChange, Plan, PlanWarning, TargetChange
from provisioner.platform.target import describe_where

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
TYPE_WORDS = {
    "flow": "dataflow",
    "account": "account",
    "target": "target connection",
    "source": "profile source",
}


def heading(change: AnyChange) -> str:
    """`~ dataflow orders (id 1234)`."""
    where = f" (id {change.id})" if change.id else ""
    if change.type == "source":  # one per sandbox, shared by every dataflow
        return f"{SYMBOLS[change.action]} profile source connection{where}"
    return f"{SYMBOLS[change.action]} {TYPE_WORDS[change.type]} {change.name}{where}"


def labels(change: AnyChange) -> list[str]:
    found = []
    if change.drift:
        found.append("drift: changed outside provisioner since the last apply")
    if change.action == "replace":
        found.append(f"replace: {change.reason}")
    elif (change.destructive or change.action == "delete") and change.reason:
        found.append(change.reason)
    if change.sensitive:
        found.append("credentials")
    return found


def detail_lines(change: AnyChange) -> list[tuple[str, str]]:
    """(symbol, text) for each field, audience and attribute line of a change."""
    lines = [
        (
            "~" if change.action != "create" else "+",
            _field_text(f.path, f.before, f.after, f.sensitive),
        )
        for f in change.fields
    ]
    if isinstance(change, FlowChange) and change.enable is not None:
        lines = [line for line in lines if not line[1].startswith("enabled")]
        lines.append(("~", f"enabled: {_shown(not change.enable)} -> {_shown(change.enable)}"))
    if isinstance(change, TargetChange) and change.spec and change.action in ("create", "replace"):
        lines += [("+", f"{k}: {_shown(v)}") for k, v in change.spec.params.items()]
    if isinstance(change, FlowChange):
        lines += _audience_lines(change) + _attribute_lines(change)
    return lines


def _field_text(name: str, before: Any, after: Any, sensitive: bool = False) -> str:
    if before is None:
        return f"{name}: {_shown(after, sensitive)}"
    return f"{name}: {_shown(before, sensitive)} -> {_shown(after, sensitive)}"


def _shown(value: Any, placeholder: bool = False) -> str:
    """A value as JSON, quoted and escaped; a sensitive field's placeholder such as
    `(sensitive)` as it is. Only the flag decides: a description that merely starts with
    '(' comes from a manifest or the platform and is quoted like any other."""
    if placeholder and isinstance(value, str):
        return value
    return json.dumps(value)


def _audience_lines(change: FlowChange) -> list[tuple[str, str]]:
    if change.audiences is None:
        return []

    def named(audience_id: str) -> str:
        name = change.audience_names.get(audience_id)
        return f"audience {audience_id} {name}" if name else f"audience {audience_id}"

    return (
        [("+", named(i)) for i in change.audiences.add]
        + [("-", named(i)) for i in change.audiences.remove]
        + [("~", named(i)) for i in change.audiences.update]
    )


def _attribute_lines(change: FlowChange) -> list[tuple[str, str]]:
    if change.attributes is None:
        return []
    return [("+", f"attribute {p}") for p in change.attributes.add] + [
        ("-", f"attribute {p}") for p in change.attributes.remove
    ]


def summary_line(plan: Plan) -> str:
    s = plan.summary
    if not plan.changes:
        return f"No changes. The platform matches the manifests ({s.unchanged} unchanged)."
    return (
        f"Plan: {s.create} to create, {s.update} to update, {s.replace} to replace, "
        f"{s.delete} to delete; {s.unchanged} unchanged."
    )


def target_line(plan: Plan) -> str:
    t = plan.target
    return f"Target: {describe_where(t.kind, t.url, t.org, t.sandbox)}"


def warnings(plan: Plan) -> list[str]:
    """`Title: message: names`, one per warning of the plan."""
    return [f"{_WARNING_TITLES[w.kind]}: {w.message}: {_names(plan, w)}" for w in plan.warnings]


def _names(plan: Plan, warning: PlanWarning) -> str:
    if warning.kind == "destructive":  # what kind of object goes matters as much as its name
        return ", ".join(f"{TYPE_WORDS[c.type]} {c.name}" for c in plan.destructive)
    return ", ".join(warning.names)


_WARNING_TITLES = {
    "destructive": "Destructive",
    "credentials": "Credentials",
    "drift": "Drift",
    "duplicate": "Duplicate",
    "duplicate-export": "Duplicate export",
    "threshold": "Threshold",
}
