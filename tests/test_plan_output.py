"""The three renderings of real plans, pinned by golden files; the JSON by its schema.

Plans come from scenarios run against the served emulator. Ids, etags and the port vary
from run to run, so they are replaced by stable placeholders before comparing. To accept
a deliberate change of output: UPDATE_GOLDEN=1 pytest tests/test_plan_output.py, then
read the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import plan_schema_text
from provisioner.plan.model import (
    AnyChange,
    AttributeChanges,
    FlowChange,
    Plan,
    PlanTarget,
    Summary,
)
from provisioner.platform.ids import SEGMENT_SELECTORS
from provisioner.render import render_markdown, render_text
from provisioner.render.markdown import MARKER
from tests.workspace import AUDIENCES, Workspace, event_hubs, kinesis

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent
A, B, C, D, E, F = AUDIENCES
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ETAG = re.compile(r'\\?"[0-9a-f]{8}-0000-0200-0000-[0-9a-f]{12}\\?"')


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


def big_plan(count: int) -> Plan:
    changes: list[AnyChange] = [
        FlowChange(action="create", name=f"flow-{i:04d}") for i in range(count)
    ]
    target = PlanTarget(kind="platform", url="https://platform.adobe.io", org="O", sandbox="prod")
    return Plan(target=target, summary=Summary(create=count), changes=changes)


def test_markdown_keeps_the_summary_under_the_size_cap() -> None:
    plan = big_plan(3000)
    text = render_markdown(plan, max_chars=20_000)
    assert len(text) <= 20_000
    assert text.startswith("### provisioner plan · `Target: https://platform.adobe.io")
    assert "**Plan: 3000 to create" in text and text.rstrip().endswith(MARKER)
    rows = text.count("| `+` create | dataflow |")
    assert 100 < rows < 3000
    assert f"{3000 - rows} more table row(s) not shown" in text
    assert len(render_markdown(plan)) <= 60_000
    assert render_markdown(big_plan(3)).count("| `+` create | dataflow |") == 3


def test_colour_only_when_asked() -> None:
    plan = big_plan(1)
    assert "\033[" not in render_text(plan)
    assert "\033[32m+ dataflow flow-0000\033[0m" in render_text(plan, colour=True)


def test_no_color_is_honoured(workspace: Workspace) -> None:
    workspace.write("a.yaml", kinesis("orders", [A]))
    workspace.env["NO_COLOR"] = "1"
    assert "\033[" not in workspace.plan().out


def test_markdown_escapes_names_in_html_and_tables() -> None:
    plan = big_plan(1)
    change = plan.changes[0]
    assert isinstance(change, FlowChange)
    change.name = "a<b>|c"
    change.attributes = AttributeChanges(add=["x.y"])
    text = render_markdown(plan)
    assert "<code>+ dataflow a&lt;b&gt;|c</code>" in text
    assert "| `a<b>\\|c` |" in text
