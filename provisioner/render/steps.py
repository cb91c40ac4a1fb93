"""What a change will do, read from what apply sends: a dataflow update's JSON Patch and its
enable or disable, a target update's `replace /params`, a create's spec, an account's fields
(with the values its spec gives them).

Summaries (`audiences`, `attributes`) are never read here: a plan whose summary disagrees
with its patch shows the patch. `audience_names` (the names the platform gave the audiences
when the plan was made) only label an id that the patch or spec carries without a name,
in parentheses: `audience ID (Gold members)`; they add, remove or change no line.

The patch's indices are those of the live arrays the plan was computed against (the plan
orders its operations so that applying them one after another agrees: replaces, removes from
the highest index down, then appends); what a remove or a replace takes away is shown from
the live selectors the plan recorded at those indices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.plan.model import (
    SENSITIVE,
    AccountChange,
    AnyChange,
    AttributeChanges,
    AudienceChanges,
    FieldChange,
    FlowChange,
    LiveAttribute,
    LiveAudience,
    PatchOp,
    ProfileSelector,
    SegmentSelector,
    TargetChange,
)
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS

StepKind = Literal["field", "audience", "attribute", "param", "other"]
# The placeholders the plan itself writes for a sensitive field; any other value of a
# sensitive field is shown as SENSITIVE, never as it is.
_PLACEHOLDERS = frozenset({SENSITIVE, "(not recorded: adopt)"})
_FLOW_FIELDS = ("/name", "/description")


@dataclass(frozen=True)
class Step:
    """One line of what a change does: `symbol` is +, -, ~ or a space (kept as it is)."""

    kind: StepKind
    symbol: str
    text: str
    subject: str = ""  # the audience id or attribute path the step is about
    index: int = -1  # the live index a remove takes away


def change_steps(change: AnyChange) -> list[Step]:
    if isinstance(change, FlowChange):
        return _flow_steps(change)
    if isinstance(change, TargetChange):
        return _target_steps(change)
    if isinstance(change, AccountChange):
        return _account_steps(change)
    return [_field_step(f) for f in change.fields]


def selector_changes(change: FlowChange) -> tuple[AudienceChanges, AttributeChanges] | None:
    """The audiences and attributes a flow change adds, removes and updates, as its patch
    (or, for a create or a replace, its spec) says; None for a delete."""
    if change.action == "delete":
        return None
    if change.action != "update":
        spec = change.spec
        return (
            AudienceChanges(add=sorted(a.id for a in spec.audiences) if spec else []),
            AttributeChanges(add=sorted(spec.attributes) if spec else []),
        )
    steps = _flow_steps(change)
    kept = {a.id.lower() for a in change.spec.audiences} if change.spec else set()
    audiences = AudienceChanges(
        add=_subjects(steps, "audience", "+"),
        # A second copy of a kept audience is removed, but the audience stays.
        remove=[i for i in _removed(steps, "audience") if i.lower() not in kept],
        update=sorted(_subjects(steps, "audience", "~")),
    )
    attributes = AttributeChanges(
        add=_subjects(steps, "attribute", "+"),
        remove=[
            p
            for p in _removed(steps, "attribute")
            if not change.spec or p not in change.spec.attributes
        ],
    )
    return audiences, attributes


def _subjects(steps: list[Step], kind: StepKind, symbol: str) -> list[str]:
    return [s.subject for s in steps if s.kind == kind and s.symbol == symbol and s.subject]


def _removed(steps: list[Step], kind: StepKind) -> list[str]:
    removes = sorted(
        (s for s in steps if s.kind == kind and s.symbol == "-" and s.subject),
        key=lambda s: s.index,
    )
    return list(dict.fromkeys(s.subject for s in removes))


# dataflows ---------------------------------------------------------------------------------


def _flow_steps(change: FlowChange) -> list[Step]:
    if change.action in ("create", "replace"):
        return _flow_spec_steps(change)
    if change.action == "delete":
        return []
    enabled = (
        [Step("field", "~", f"enabled: {_json(not change.enable)} -> {_json(change.enable)}")]
        if change.enable is not None
        else []
    )
    patched = [step for op in change.patch for step in _flow_op_steps(change, op)]
    # As apply runs them: a disable before the patch, an enable after it.
    return enabled + patched if change.enable is False else patched + enabled


def _flow_spec_steps(change: FlowChange) -> list[Step]:
    spec = change.spec
    if spec is None:
        return []
    steps = []
    if spec.description:
        steps.append(Step("field", "+", f"description: {_json(spec.description)}"))
    if not spec.enabled:
        steps.append(Step("field", "+", "enabled: false"))
    steps += [
        Step("audience", "+", _audience(a.id, a.name, _known(change, a.id)), subject=a.id)
        for a in spec.audiences
    ]
    steps += [Step("attribute", "+", f"attribute {p}", subject=p) for p in spec.attributes]
    return steps


def _flow_op_steps(change: FlowChange, op: PatchOp) -> list[Step]:
    if op.path in _FLOW_FIELDS and op.op in ("add", "replace") and isinstance(op.value, str):
        name = op.path[1:]
        before = _field(change.fields, name)
        return [Step("field", "~", _change_text(name, before.before if before else None, op.value))]
    audience_index = _index(op.path, SEGMENT_SELECTORS)
    if audience_index is not None:
        steps = _audience_op_steps(change, op, audience_index)
        if steps is not None:
            return steps
    attribute_index = _index(op.path, PROFILE_SELECTORS)
    if attribute_index is not None:
        steps = _attribute_op_steps(change, op, attribute_index)
        if steps is not None:
            return steps
    return [_other_step(op)]


def _audience_op_steps(change: FlowChange, op: PatchOp, index: str) -> list[Step] | None:
    live = {a.index: a for a in change.live_audiences}.get(int(index)) if index != "-" else None
    new = op.value.value if isinstance(op.value, SegmentSelector) else None
    if op.op == "add" and new is not None and new.id:
        text = _audience(new.id, new.name, _known(change, new.id))
        return [Step("audience", "+", text, subject=new.id)]
    if op.op == "remove" and index != "-":
        return [_audience_removed(change, live, int(index))]
    if op.op == "replace" and index != "-" and new is not None and new.id:
        if live is None or live.id.lower() != new.id.lower():
            text = _audience(new.id, new.name, _known(change, new.id))
            added = Step("audience", "+", text, subject=new.id)
            return [_audience_removed(change, live, int(index)), added]
        return [Step("audience", "~", _audience_update(live, new.name, new.description), new.id)]
    return None


def _audience_removed(change: FlowChange, live: LiveAudience | None, index: int) -> Step:
    if live is None:
        return Step("audience", "-", f"audience at index {index} (not read when planned)")
    text = _audience(live.id, live.name, _known(change, live.id))
    return Step("audience", "-", text, subject=live.id, index=index)


def _audience(audience_id: str, name: str | None, known: str | None = None) -> str:
    """`audience ID NAME` with the name the dataflow carries; with none, the name the
    platform knows the audience by, in parentheses (it is not written into the dataflow)."""
    if name:
        return f"audience {audience_id} {name}"
    return f"audience {audience_id} ({known})" if known else f"audience {audience_id}"


def _known(change: FlowChange, audience_id: str) -> str | None:
    """The name the plan recorded for an audience (the platform's, or the manifest's)."""
    wanted = audience_id.lower()
    return next((n for i, n in change.audience_names.items() if i.lower() == wanted), None)


def _audience_update(live: LiveAudience, name: str | None, description: str | None) -> str:
    """`audience ID "old name" -> "new name", description "old" -> "new"`."""
    parts = [f"{_json(live.name)} -> {_json(name)}" if live.name != name else _json(name)]
    if live.description != description:
        parts.append(f"description {_json(live.description)} -> {_json(description)}")
    return f"audience {live.id} " + ", ".join(parts)


def _attribute_op_steps(change: FlowChange, op: PatchOp, index: str) -> list[Step] | None:
    live = {a.index: a for a in change.live_attributes}.get(int(index)) if index != "-" else None
    new = op.value.value.path if isinstance(op.value, ProfileSelector) else None
    added = Step("attribute", "+", f"attribute {new}", subject=new or "")
    if op.op == "add" and new:
        return [added]
    if op.op == "remove" and index != "-":
        return [_attribute_removed(live, int(index))]
    if op.op == "replace" and index != "-" and new:
        return [_attribute_removed(live, int(index)), added]
    return None


def _attribute_removed(live: LiveAttribute | None, index: int) -> Step:
    if live is None:
        return Step("attribute", "-", f"attribute at index {index} (not read when planned)")
    return Step("attribute", "-", f"attribute {live.path}", subject=live.path, index=index)


def _index(path: str, array: str) -> str | None:
    """The index (or `-`) an operation's path names in `array`, None when elsewhere."""
    prefix = array + "/"
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    return rest if rest == "-" or rest.isdigit() else None


def _other_step(op: PatchOp) -> Step:
    """An operation the plan does not make itself, shown as it is rather than left out."""
    value = op.as_json().get("value")
    shown = f": {json.dumps(value, sort_keys=True)}" if value is not None else ""
    return Step("other", "~", f"{op.op} {op.path}{shown}")


# target connections and accounts -----------------------------------------------------------


def _target_steps(change: TargetChange) -> list[Step]:
    if change.action in ("create", "replace"):
        params = change.spec.params if change.spec else {}
        return [Step("param", "+", f"params.{k}: {_json(v)}") for k, v in params.items()]
    if change.action == "delete":
        return []
    steps: list[Step] = []
    for op in change.patch:
        if op.path == "/params" and op.op in ("add", "replace") and isinstance(op.value, dict):
            steps += _param_steps(change.fields, op.value)
        else:
            steps.append(_other_step(op))
    return steps


def _param_steps(fields: list[FieldChange], params: dict[str, str]) -> list[Step]:
    """Each param the patch writes, with its value before when the plan recorded one; each
    recorded param the patch leaves out is removed (`replace` keeps only what it sends)."""
    before = {f.path.removeprefix("params."): f for f in fields if f.path.startswith("params.")}
    steps = []
    for key, value in params.items():
        recorded = before.get(key)
        if recorded is None:  # not among the changes: as it is now
            steps.append(Step("param", " ", f"params.{key}: {_json(value)}"))
        elif recorded.before is None:
            steps.append(Step("param", "+", f"params.{key}: {_json(value)}"))
        else:
            steps.append(Step("param", "~", _change_text(f"params.{key}", recorded.before, value)))
    steps += [
        Step("param", "-", f"params.{key}: {_json(f.before)}")
        for key, f in before.items()
        if key not in params
    ]
    return steps


def _account_steps(change: AccountChange) -> list[Step]:
    """The fields apply writes, with the values the spec it writes them from gives."""
    spec = change.spec
    steps = [_field_step(f, _spec_value(change, f)) for f in change.fields]
    if spec is not None and change.action in ("create", "replace"):
        listed = {f.path for f in change.fields}
        steps += [
            Step("field", "+", f"params.{k}: {_json(v)}")
            for k, v in spec.place.items()
            if f"params.{k}" not in listed
        ]
    return steps


def _spec_value(change: AccountChange, field: FieldChange) -> Any:
    spec = change.spec
    if spec is None or field.sensitive:
        return field.after
    if field.path == "name":
        return change.name
    if field.path == "type":
        return spec.type
    if field.path.startswith("params."):
        return spec.place.get(field.path.removeprefix("params."))
    return field.after


# values ------------------------------------------------------------------------------------


def _field(fields: list[FieldChange], path: str) -> FieldChange | None:
    return next((f for f in fields if f.path == path), None)


def _field_step(field: FieldChange, after: Any = ...) -> Step:
    value = field.after if after is ... else after
    symbol = "+" if field.before is None else ("-" if value is None else "~")
    return Step("field", symbol, _change_text(field.path, field.before, value, field.sensitive))


def _change_text(name: str, before: Any, after: Any, sensitive: bool = False) -> str:
    if before is None:
        return f"{name}: {_shown(after, sensitive)}"
    return f"{name}: {_shown(before, sensitive)} -> {_shown(after, sensitive)}"


def _shown(value: Any, sensitive: bool = False) -> str:
    """A value as JSON, quoted and escaped. A sensitive field shows only a placeholder the
    plan writes, such as `(sensitive)`, bare; any other value of it is never shown."""
    return shown_sensitive(value) if sensitive else _json(value)


def shown_sensitive(value: Any) -> str:
    """What shows of a sensitive field's value: the plan's own placeholder, or SENSITIVE."""
    return value if isinstance(value, str) and value in _PLACEHOLDERS else SENSITIVE


def _json(value: Any) -> str:
    return json.dumps(value)
