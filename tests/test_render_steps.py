"""Every rendering shows what apply sends: a dataflow update's patch and enable, a target
update's params, an account's fields with its spec's values. A summary, a name map or a
field list that says otherwise is not believed; a sensitive value is never shown."""

from __future__ import annotations

import json

from provisioner.plan.model import (
    SENSITIVE,
    AccountChange,
    AccountSpec,
    AnyChange,
    AttributeChanges,
    AudienceChanges,
    FieldChange,
    FlowChange,
    LiveAttribute,
    LiveAudience,
    PatchOp,
    Plan,
    PlanTarget,
    ProfileSelector,
    ProfileValue,
    SegmentSelector,
    SegmentValue,
    Summary,
    TargetChange,
)
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.render import render_json, render_markdown, render_text
from provisioner.render.lines import detail_lines
from provisioner.render.steps import selector_changes
from tests.workspace import AUDIENCES, Workspace, kinesis

A, B, C, D, E, F = AUDIENCES


def plan_of(*changes: AnyChange) -> Plan:
    target = PlanTarget(kind="platform", url="https://platform.adobe.io", org="O", sandbox="prod")
    return Plan(target=target, summary=Summary(update=len(changes)), changes=list(changes))


def renderings(plan: Plan) -> dict[str, str]:
    return {
        "text": render_text(plan),
        "markdown": render_markdown(plan),
        "json": render_json(plan),
    }


def segment(audience_id: str | None = None, name: str | None = None) -> SegmentSelector:
    return SegmentSelector(value=SegmentValue(id=audience_id, name=name))


def profile(path: str | None = None) -> ProfileSelector:
    if path is None:  # the placeholder a remove sends
        return ProfileSelector(value=ProfileValue())
    return ProfileSelector(value=ProfileValue(path=path, operator="EXISTS"))


def test_a_forged_summary_cannot_hide_a_patch_operation() -> None:
    change = FlowChange(
        action="update",
        name="orders",
        id="flow-1",
        audiences=AudienceChanges(),
        attributes=AttributeChanges(),
        audience_names={B: "Innocent"},
        fields=[FieldChange(path="description", before="a", after="b")],
        patch=[
            PatchOp(op="remove", path=f"{SEGMENT_SELECTORS}/2", value=segment()),
            PatchOp(op="add", path=f"{PROFILE_SELECTORS}/-", value=profile("person.ssn")),
        ],
        live_audiences=[LiveAudience(index=2, id=B, name="High value")],
    )
    shown = renderings(plan_of(change))
    assert "+ attribute person.ssn" in shown["text"]
    assert f"- audience {B} High value" in shown["text"]
    assert "Innocent" not in shown["text"] and "description" not in shown["text"]
    markdown = shown["markdown"]
    assert "+ attribute person.ssn" in markdown and f"- audience {B} High value" in markdown
    assert "| `~` update | dataflow | `orders` | -1 | +1 |" in markdown
    flow = json.loads(shown["json"])["changes"][0]
    assert flow["attributes"] == {"add": ["person.ssn"], "remove": []}
    assert flow["audiences"] == {"add": [], "remove": [B], "update": []}


def test_an_audience_replaced_in_place_shows_its_old_and_new_name_and_description() -> None:
    change = FlowChange(
        action="update",
        name="orders",
        patch=[
            PatchOp(
                op="replace",
                path=f"{SEGMENT_SELECTORS}/0",
                value=SegmentSelector(value=SegmentValue(id=A, name="New", description="d2")),
            ),
            PatchOp(op="replace", path=f"{SEGMENT_SELECTORS}/1", value=segment(C, "Other")),
            PatchOp(op="remove", path=f"{SEGMENT_SELECTORS}/5", value=segment()),
            PatchOp(op="remove", path=f"{PROFILE_SELECTORS}/3", value=profile()),
            PatchOp(op="replace", path="/state", value="disabled"),
        ],
        live_audiences=[
            LiveAudience(index=0, id=A, name="Old", description="d1"),
            LiveAudience(index=1, id=B, name="Was here"),
        ],
        live_attributes=[LiveAttribute(index=3, path="person.age")],
    )
    assert detail_lines(change) == [
        ("~", f'audience {A} "Old" -> "New", description "d1" -> "d2"'),
        ("-", f"audience {B} Was here"),  # a replace by another audience is a swap
        ("+", f"audience {C} Other"),
        ("-", "audience at index 5 (not read when planned)"),
        ("-", "attribute person.age"),
        ("~", 'replace /state: "disabled"'),  # not one the plan makes: shown as it is
    ]
    found = selector_changes(change)
    assert found is not None
    audiences, attributes = found
    assert (audiences.add, audiences.remove, audiences.update) == ([C], [B], [A])
    assert attributes.remove == ["person.age"]


def test_disable_comes_first_and_enable_last_as_apply_runs_them() -> None:
    add = PatchOp(op="add", path=f"{PROFILE_SELECTORS}/-", value=profile("a.b"))
    disabling = FlowChange(action="update", name="x", patch=[add], enable=False)
    enabling = FlowChange(action="update", name="x", patch=[add], enable=True)
    assert detail_lines(disabling) == [("~", "enabled: true -> false"), ("+", "attribute a.b")]
    assert detail_lines(enabling) == [("+", "attribute a.b"), ("~", "enabled: false -> true")]


def test_a_target_update_shows_the_params_its_patch_writes() -> None:
    change = TargetChange(
        action="update",
        name="orders",
        fields=[
            FieldChange(path="params.stream", before="a", after="b"),
            FieldChange(path="params.legacy", before="x", after="y"),
        ],
        patch=[PatchOp(op="replace", path="/params", value={"stream": "c", "region": "r"})],
    )
    assert detail_lines(change) == [
        ("~", 'params.stream: "a" -> "c"'),  # the patch's value, not the field's
        (" ", 'params.region: "r"'),  # written as it is now
        ("-", 'params.legacy: "x"'),  # `replace /params` drops what it does not send
    ]


def test_an_account_update_shows_the_values_its_spec_writes() -> None:
    spec = AccountSpec(type="amazon-kinesis", place={"region": "ap"}, credentials={}, base_dir=".")
    change = AccountChange(
        action="update",
        name="acc",
        spec=spec,
        fields=[FieldChange(path="params.region", before="eu", after="us")],
    )
    assert detail_lines(change) == [("~", 'params.region: "eu" -> "ap"')]


def test_sensitive_fields_never_show_values() -> None:
    secret, old_secret = "wJalrXUtnFEMI-new", "AKIA-old-value"
    change = AccountChange(
        action="update",
        name="acc",
        sensitive=True,
        fields=[
            FieldChange(path="credentials", before=old_secret, after=secret, sensitive=True),
            FieldChange(path="token", before=None, after=SENSITIVE, sensitive=True),
        ],
    )
    for rendering in renderings(plan_of(change)).values():
        assert secret not in rendering and old_secret not in rendering
    assert detail_lines(change) == [
        ("~", "credentials: (sensitive) -> (sensitive)"),
        ("+", "token: (sensitive)"),
    ]


def update_scenario(ws: Workspace) -> Plan:
    """A dataflow whose description, audience name, state and stream change."""
    ws.write("a.yaml", kinesis("orders", [{"id": A, "name": "One"}, B], ["a.b"], stream="s1"))
    assert ws.apply().code == 0
    ws.write(
        "a.yaml",
        kinesis(
            "orders",
            [{"id": A, "name": "Two"}, C],
            ["c.d"],
            description="now described",
            enabled=False,
            stream="s2",
        ),
    )
    saved = ws.root / "plan.json"
    assert ws.plan("--out", str(saved)).code == 0
    return Plan.model_validate_json(saved.read_text(encoding="utf-8"))


def test_every_field_change_shows_its_before_and_after(workspace: Workspace) -> None:
    plan = update_scenario(workspace)
    fields = [(c, f) for c in plan.changes for f in c.fields if c.action == "update"]
    paths = {f.path for _, f in fields}
    assert {"description", "enabled", f"audiences.{A}.name", "params.stream"} <= paths
    text, markdown = render_text(plan), render_markdown(plan)
    for change, field in fields:
        if field.before is None or field.after is None or field.sensitive:
            continue
        both = f"{json.dumps(field.before)} -> {json.dumps(field.after)}"
        lines = [text for _, text in detail_lines(change)]
        assert any(both in line for line in lines), (field, lines)
        assert both in text and both in markdown


def test_summaries_read_from_operations_agree_with_the_plan(workspace: Workspace) -> None:
    plan = update_scenario(workspace)
    flows = [c for c in plan.changes if isinstance(c, FlowChange)]
    assert flows
    for change in flows:
        assert selector_changes(change) == (change.audiences, change.attributes)
    assert json.loads(render_json(plan)) == plan.as_json()
