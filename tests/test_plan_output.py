"""The three renderings of real plans, pinned by golden files; the JSON by its schema.

Plans come from scenarios run against the served emulator. Ids, etags and the port vary
from run to run, and content digests follow every marker the tool writes, so they are
replaced by stable placeholders before comparing (one per distinct value). To accept
a deliberate change of output: UPDATE_GOLDEN=1 pytest tests/test_plan_output.py, then
read the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.cli import plan_schema_text
from provisioner.plan.model import (
    AnyChange,
    AudienceSpec,
    FlowChange,
    FlowSpec,
    PatchOp,
    Plan,
    PlanTarget,
    PlanWarning,
    ProfileSelector,
    ProfileValue,
    Summary,
)
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.render import render_markdown, render_text
from provisioner.render.markdown import (
    GITHUB_COMMENT_LIMIT,
    GITLAB_NOTE_LIMIT,
    MAX_CHARS,
    comment_limit,
)
from provisioner.review.comment_marker import find_marker
from tests.workspace import AUDIENCES, Workspace, event_hubs, kinesis

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent
A, B, C, D, E, F = AUDIENCES
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ETAG = re.compile(r'\\?"[0-9a-f]{8}-0000-0200-0000-[0-9a-f]{12}\\?"')
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def normalize(text: str, ws: Workspace) -> str:
    text = text.replace(ws.url, "http://127.0.0.1:PORT").replace(str(ws.root), "WORKDIR")
    names: dict[str, str] = {}

    def stable(prefix: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            if found in AUDIENCES:
                return found
            return names.setdefault(
                found,
                f"<{prefix}-{sum(1 for v in names.values() if v.startswith('<' + prefix)) + 1}>",
            )

        return replace

    text = _ETAG.sub(stable("etag"), text)
    text = _DIGEST.sub(stable("digest"), text)
    return _UUID.sub(stable("id"), text)


def scenario_create(ws: Workspace) -> None:
    ws.write(
        "a.yaml",
        kinesis(
            "orders",
            [{"id": A, "name": "Buyers"}, B],
            ["person.lastName"],
            description="Order events",
            account="shared-kinesis",
        ),
    )
    ws.write("b.yaml", event_hubs("loyalty", [C], ["loyalty.points"]))


def scenario_update(ws: Workspace) -> None:
    ws.write("a.yaml", kinesis("orders", [{"id": A, "name": "One"}, B, C, D], ["a.b", "c.d"]))
    ws.apply()
    flow = ws.flow("orders")
    ws.emulator.resources.outside_edit(
        "flows",
        "prod",
        flow["id"],
        [
            {
                "op": "add",
                "path": f"{SEGMENT_SELECTORS}/-",
                "value": {
                    "type": "PLATFORM_SEGMENT",
                    "value": {"id": F, "name": "Added in the UI"},
                },
            }
        ],
    )
    ws.write(
        "a.yaml",
        kinesis(
            "orders",
            [{"id": A, "name": "Renamed"}, B, E],
            ["a.b", "e.f"],
            description="now described",
            enabled=False,
        ),
    )


def scenario_destructive(ws: Workspace) -> None:
    ws.write("a.yaml", kinesis("orders", [A, B, C, D]))
    ws.write("b.yaml", kinesis("retired", [A], stream="retired"))
    ws.write("c.yaml", kinesis("moving", [A], stream="moving"))
    ws.apply()
    ws.remove("b.yaml")
    ws.write("a.yaml", kinesis("orders", [A]))
    ws.write("c.yaml", event_hubs("moving", [A]))
    ws.env["AWS_SECRET"] = "rotated"


def scenario_nothing(ws: Workspace) -> None:
    ws.write("a.yaml", kinesis("orders", [A]))
    ws.apply()


SCENARIOS = {
    "create": (scenario_create, []),
    "update": (scenario_update, []),
    "destructive": (scenario_destructive, ["--prune"]),
    "nothing": (scenario_nothing, []),
}


def attribute(path: str) -> ProfileSelector:
    return ProfileSelector(value=ProfileValue(path=path, operator="EXISTS"))


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_renderings_match_the_golden_files(workspace: Workspace, scenario: str) -> None:
    build, flags = SCENARIOS[scenario]
    build(workspace)
    for output_format, suffix in (("text", "txt"), ("json", "json"), ("markdown", "md")):
        result = workspace.plan("--format", output_format, *flags)
        assert result.code == 0, result.err
        check_golden(f"{scenario}.{suffix}", normalize(result.out, workspace))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_json_plans_validate_against_the_published_schema(
    workspace: Workspace, scenario: str
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    build, flags = SCENARIOS[scenario]
    build(workspace)
    plan = workspace.plan("--format", "json", *flags).json
    jsonschema.validate(plan, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert plan["format_version"] == "1"
    assert set(plan["summary"]) == {"create", "update", "replace", "delete", "unchanged"}
    for change in plan["changes"]:
        assert change["action"] in ("create", "update", "replace", "delete")
        assert change["type"] in ("flow", "account", "target", "source")
    counted = {
        a: sum(1 for c in plan["changes"] if c["action"] == a)
        for a in ("create", "update", "replace", "delete")
    }
    assert {k: v for k, v in plan["summary"].items() if k != "unchanged"} == counted


def test_plan_schema_file_is_current() -> None:
    committed = (ROOT / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    assert committed == plan_schema_text(), (
        "run: provisioner schema --plan > schemas/plan.schema.json"
    )


def _untyped_objects(node: object, where: str) -> Iterator[str]:
    """Where the schema allows an object without saying what it holds."""
    if isinstance(node, dict):
        if node.get("type") == "object" and not (
            "properties" in node or isinstance(node.get("additionalProperties"), dict)
        ):
            yield where
        for key, value in node.items():
            yield from _untyped_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _untyped_objects(value, f"{where}/{index}")


def test_the_plan_schema_types_every_object_the_plan_holds() -> None:
    schema = json.loads(plan_schema_text())
    assert list(_untyped_objects(schema, "#")) == []
    # The check itself sees an untyped object where there is one.
    assert list(_untyped_objects({"a": {"type": "object"}}, "#")) == ["#/a"]


def big_plan(count: int) -> Plan:
    spec = FlowSpec(
        description="",
        enabled=True,
        type="amazon-kinesis",
        account="a",
        target_params={},
        audiences=[AudienceSpec(id=A, name="Buyers")],
        attributes=["person.lastName"],
    )
    changes: list[AnyChange] = [
        FlowChange(action="create", name=f"flow-{i:04d}", spec=spec) for i in range(count)
    ]
    target = PlanTarget(kind="platform", url="https://platform.adobe.io", org="O", sandbox="prod")
    return Plan(target=target, summary=Summary(create=count), changes=changes)


def with_warnings(plan: Plan) -> Plan:
    warnings = [
        PlanWarning(kind="drift", names=["flow-0001"], message="changed outside provisioner"),
        PlanWarning(kind="destructive", names=["flow-0002"], message="1 change(s) delete"),
        PlanWarning(kind="threshold", names=[], message="over 30% of the dataflows"),
    ]
    return plan.model_copy(update={"warnings": warnings})


def with_target(plan: Plan, **values: str | None) -> Plan:
    return plan.model_copy(update={"target": plan.target.model_copy(update=values)})


def with_first_change(plan: Plan, **values: object) -> Plan:
    first = plan.changes[0].model_copy(update=values)
    return plan.with_changes([first, *plan.changes[1:]])


def test_a_big_comment_keeps_target_counts_and_banners_and_says_what_it_left_out() -> None:
    plan = with_target(with_warnings(big_plan(3000)), environment="staging")
    text = render_markdown(plan, max_chars=20_000)
    assert len(text) <= 20_000
    lines = text.splitlines()
    assert lines[0].startswith("<!-- provisioner-plan {")
    assert lines[1] == "### provisioner plan · org `O` · sandbox `prod` · environment `staging`"
    assert (
        lines[3] == "**Plan: 3000 to create, 0 to update, 0 to replace, 0 to delete; 0 unchanged.**"
    )
    banners = [line for line in lines if line.startswith("> **")]
    assert [b.split("**")[1] for b in banners] == ["Destructive", "Threshold", "Drift"]
    rows = text.count("| `+` create | dataflow |")
    assert 100 < rows < 3000
    assert f"{3000 - rows} of 3000 table rows and 3000 of 3000 change details left out" in text
    assert "<details>" not in text  # details go before any row does


def test_details_are_left_out_before_table_rows() -> None:
    plan = big_plan(60)
    patch = [
        PatchOp(op="add", path=f"{PROFILE_SELECTORS}/-", value=attribute(f"a.b{i}"))
        for i in range(20)
    ]
    updated = {"spec": None, "action": "update", "patch": patch}
    plan = plan.with_changes([c.model_copy(update=updated) for c in plan.changes])
    whole = render_markdown(plan, max_chars=1_000_000)
    assert whole.count("<details>") == 60 and "Trimmed" not in whole
    text = render_markdown(plan, max_chars=len(whole) // 2)
    assert len(text) <= len(whole) // 2
    assert text.count("| `~` update | dataflow |") == 60
    kept = text.count("<details>")
    assert 0 < kept < 60
    assert f"> Trimmed to fit a comment ({len(whole) // 2:,} characters at most): " in text
    assert f"{60 - kept} of 60 change details left out" in text and "table rows" not in text


def test_the_default_limit_fits_github_and_gitlab_with_a_margin() -> None:
    assert comment_limit(GITHUB_COMMENT_LIMIT, GITLAB_NOTE_LIMIT) == comment_limit(65_536)
    assert comment_limit(GITLAB_NOTE_LIMIT) > 900_000
    assert MAX_CHARS < GITHUB_COMMENT_LIMIT
    text = render_markdown(big_plan(3000))
    assert len(text) <= MAX_CHARS and "table rows" in text
    assert render_markdown(big_plan(3)).count("| `+` create | dataflow |") == 3


@pytest.mark.parametrize("environment", [None, "staging"])
def test_the_marker_is_the_first_line_and_names_the_target(environment: str | None) -> None:
    plan = with_first_change(with_target(big_plan(3), environment=environment), action="delete")
    plan = plan.model_copy(update={"summary": Summary(create=2, delete=1)})
    text = render_markdown(plan)
    first, rest = text.split("\n", 1)
    assert first.startswith("<!-- provisioner-plan {") and first.endswith("} -->")
    assert json.loads(first.removeprefix("<!-- provisioner-plan ").removesuffix(" -->")) == {
        "org": "O",
        "sandbox": "prod",
        "environment": environment or "",
        "changes": 3,
    }
    assert "<!--" not in rest and "-->" not in rest
    found = find_marker(text)
    assert found is not None and found.changes == 3
    expected = find_marker(
        json.dumps({"sandbox": "prod", "org": "O", "environment": environment or ""}).join(
            ("<!-- provisioner-plan ", " -->")
        )
    )
    assert expected is not None and found.same_target(expected)


def test_no_value_can_close_or_imitate_the_marker() -> None:
    plan = with_target(
        big_plan(1), org='x"} --> <!-- provisioner-plan {"org": "y', sandbox="--!> \u2028 é"
    )
    plan = with_first_change(plan, name="<!-- provisioner-plan -->")
    text = render_markdown(plan)
    first, rest = text.split("\n", 1)
    assert first.count("-->") == 1 and first.count("<!--") == 1 and "<!--" not in rest
    found = find_marker(text)
    assert found is not None
    assert dict(found.target)["org"] == json.dumps(plan.target.org)
    assert dict(found.target)["sandbox"] == json.dumps(plan.target.sandbox)


def test_colour_only_when_asked() -> None:
    plan = big_plan(1)
    assert "\033[" not in render_text(plan)
    assert "\033[32m+ dataflow flow-0000\033[0m" in render_text(plan, colour=True)


def test_no_color_is_honoured(workspace: Workspace) -> None:
    workspace.write("a.yaml", kinesis("orders", [A]))
    workspace.env["NO_COLOR"] = "1"
    assert "\033[" not in workspace.plan().out


def test_markdown_escapes_names_in_html_and_tables() -> None:
    patch = [PatchOp(op="add", path=f"{PROFILE_SELECTORS}/-", value=attribute("x.y"))]
    plan = with_first_change(big_plan(1), name="a<b>|c", action="update", patch=patch)
    text = render_markdown(plan)
    assert "<code>~ dataflow a&lt;b&gt;|c</code>" in text
    assert "| `a<b>\\|c` |" in text
