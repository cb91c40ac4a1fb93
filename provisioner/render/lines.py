"""What every rendering says about a change, in words; the formats only dress it."""

from __future__ import annotations

import json

from provisioner.fields.secrets import is_reference
from provisioner.plan.model import (
    AccountChange,
    AnyChange,
    FieldChange,
    Plan,
    PlanWarning,
    Summary,
    summarize,
)
from provisioner.platform.target import describe_where
from provisioner.render.steps import change_steps

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
    elif change.unattributed:
        found.append(
            "changed (unattributed): the platform wrote last; an edit elsewhere cannot be ruled out"
        )
    if change.action == "replace":
        found.append(f"replace: {change.reason}")
    elif (change.destructive or change.action == "delete") and change.reason:
        found.append(change.reason)
    if change.sensitive:
        found.append("credentials")
    return found


def detail_lines(change: AnyChange) -> list[tuple[str, str]]:
    """(symbol, text) for each field, param, audience and attribute line of a change, read
    from what apply sends (see `render.steps`); a credential's reference as it is."""
    lines = [(step.symbol, step.text) for step in change_steps(change)]
    if isinstance(change, AccountChange):
        # An account's steps start with its fields, in order. `render.steps` shows no value
        # of a sensitive field; a reference is none, and says where the secret comes from.
        for index, field in enumerate(change.fields[: len(lines)]):
            if shows_reference(field) and lines[index][1].startswith(f"{field.path}:"):
                lines[index] = (lines[index][0], reference_text(field))
    return lines


def shows_reference(field: FieldChange) -> bool:
    """A sensitive field whose values are secret references (or absent): shown as they are.
    Any other value of a sensitive field never is."""
    values = [v for v in (field.before, field.after) if v is not None]
    return field.sensitive and bool(values) and all(is_reference(v) for v in values)


def reference_text(field: FieldChange) -> str:
    """`credentials.secretKey: "${env:OLD}" -> "${env:NEW}"`, quoted as JSON."""
    shown = [json.dumps(v) for v in (field.before, field.after) if v is not None]
    return f"{field.path}: {' -> '.join(shown)}"


def selector_counts(change: AnyChange) -> tuple[str, str]:
    """`+1 -3 ~1` for the audiences and for the attributes that a change's lines show."""
    steps = change_steps(change)

    def counted(kind: str) -> str:
        found = [(sym, sum(1 for s in steps if (s.kind, s.symbol) == (kind, sym))) for sym in "+-~"]
        return " ".join(f"{symbol}{count}" for symbol, count in found if count)

    return counted("audience"), counted("attribute")


def counts(plan: Plan) -> Summary:
    """The plan's changes counted by action, from the changes themselves."""
    return summarize(list(plan.changes), plan.summary.unchanged)


def summary_line(plan: Plan) -> str:
    s = counts(plan)
    if not plan.changes:
        return f"No changes. The platform matches the manifests ({s.unchanged} unchanged)."
    return (
        f"Plan: {s.create} to create, {s.update} to update, {s.replace} to replace, "
        f"{s.delete} to delete; {s.unchanged} unchanged."
    )


def target_line(plan: Plan) -> str:
    t = plan.target
    source = f", URL from {t.url_source}" if t.url_source else ""
    return f"Target: {describe_where(t.kind, t.url, t.org, t.sandbox)}{source}"


def warnings(plan: Plan) -> list[str]:
    """`Title: message: names`, one per warning of the plan, most serious first."""
    return [warning_text(plan, w) for w in ordered_warnings(plan)]


def ordered_warnings(plan: Plan) -> list[PlanWarning]:
    """The plan's warnings, what deletes and what a threshold refuses first."""
    return sorted(plan.warnings, key=lambda w: w.kind not in _FIRST_WARNINGS)


def warning_text(plan: Plan, warning: PlanWarning) -> str:
    return f"{WARNING_TITLES[warning.kind]}: {warning.message}: {_names(plan, warning)}"


def _names(plan: Plan, warning: PlanWarning) -> str:
    if warning.kind == "destructive":  # what kind of object goes matters as much as its name
        return ", ".join(f"{TYPE_WORDS[c.type]} {c.name}" for c in plan.destructive)
    return ", ".join(warning.names)


WARNING_TITLES = {
    "destructive": "Destructive",
    "credentials": "Credentials",
    "drift": "Drift",
    "duplicate": "Duplicate",
    "duplicate-export": "Duplicate export",
    "threshold": "Threshold",
    "foreign": "Not managed",
}
_FIRST_WARNINGS = frozenset({"destructive", "threshold"})
