"""Hostile names, descriptions and messages through every output, end to end.

From the platform: audiences added in the AEP UI with corpus names, the dataflow's
description edited there, and dataflows whose marker names them after a corpus string (what
`--prune` deletes and the notes list); a platform error message made of the corpus. From a
manifest: audience names and the dataflow's description (printable strings only: a manifest
refuses control characters). Every output is checked against the same scenario with benign
strings: a terminal gets no control character, the Markdown comment keeps its structure.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.app import Request, Response
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.emulator.resources import Caller
from provisioner.emulator.server import serving
from provisioner.platform.ids import SEGMENT_SELECTORS
from provisioner.render.safe import for_terminal
from provisioner.state.marker import marker
from tests.emulator_support import flow_body, kinesis_account, kinesis_target
from tests.injection import (
    CORPUS,
    MANIFEST_CORPUS,
    MARKER,
    RenderedHtml,
    github_links,
    hidden_characters,
    render_gfm,
)
from tests.workspace import AUDIENCES, Outcome, Workspace, kinesis

A = AUDIENCES[0]
BENIGN = {key: f"benign {key}" for key in CORPUS}


def audience_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"injection/{key}"))


def marker_key(text: str) -> str:
    """`text` as a marker can carry it: ';' separates the marker's fields."""
    return text.replace(";", ",").strip()


def platform_strings(ws: Workspace, strings: dict[str, str]) -> None:
    """A managed dataflow edited in the UI with `strings`, and one more managed dataflow
    named after each string, that no manifest names."""
    ws.write("orders.yaml", kinesis("orders", [{"id": A, "name": "Buyers"}], description="x"))
    assert ws.apply().code == 0
    flow = ws.flow("orders")
    added: list[dict[str, Any]] = [
        {
            "op": "add",
            "path": f"{SEGMENT_SELECTORS}/-",
            "value": {"type": "PLATFORM_SEGMENT", "value": {"id": audience_id(k), "name": v}},
        }
        for k, v in strings.items()
    ]
    description = " ".join(v for k, v in strings.items() if k != "long")
    edit = [*added, {"op": "replace", "path": "/description", "value": description}]
    ws.emulator.resources.outside_edit("flows", "prod", flow["id"], edit)
    caller = Caller(DEFAULT_CLIENT_ID, DEFAULT_ORG, "prod")
    create = ws.emulator.resources.create
    for key, text in strings.items():
        account = create("connections", caller, kinesis_account(name=f"account {key}"))["id"]
        target_body = kinesis_target(account, f"stream-{key}")
        target_body["description"] = marker(dataflow=marker_key(text))
        target = create("targetConnections", caller, target_body)["id"]
        body = flow_body(flow["sourceConnectionIds"][0], target, name=text)
        create("flows", caller, body)


def manifest_strings(ws: Workspace, strings: dict[str, str]) -> None:
    audiences = [{"id": audience_id(k), "name": v} for k, v in strings.items()]
    description = " ".join(strings.values())
    ws.write("orders.yaml", kinesis("orders", audiences, description=description))


class _Terminal(io.StringIO):
    """Standard input that says it is a terminal, holding the answer to the prompt."""

    def isatty(self) -> bool:
        return True


def confirm_on_terminal(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """`apply` without --auto-approve, answering 'no' to its confirmation."""
    monkeypatch.setattr(sys, "stdin", _Terminal("no\n"))
    outcome = ws.run("apply", "manifests")
    assert outcome.code == 1 and "apply cancelled" in outcome.err, outcome.err
    assert "Only 'yes' will be accepted" in outcome.out
    return outcome


def assert_terminal_safe(outcome: Outcome, strings: dict[str, str]) -> None:
    for stream in (outcome.out, outcome.err):
        assert hidden_characters(stream) == []
    summaries = [line for line in outcome.out.splitlines() if line.startswith(("Plan:", "No "))]
    assert len(summaries) <= 1, summaries  # no fake summary line
    for text in strings.values():
        assert for_terminal(text) in outcome.out


def assert_markdown_safe(hostile: str, benign: str, shown: list[str]) -> RenderedHtml:
    """`hostile` renders to the same structure as `benign`, shows each of `shown`, and
    creates no link, mention, image or script; the marker stays single and last."""
    html = render_gfm(hostile)
    rendered, expected = RenderedHtml(html), RenderedHtml(render_gfm(benign))
    assert rendered.tags == expected.tags
    assert rendered.comments == expected.comments
    assert len(rendered.comments) == 1 and rendered.comments[0].startswith(" provisioner-plan {")
    first_line = hostile.split("\n", 1)[0]
    assert hostile.count("<!--") == hostile.count("-->") == 1
    assert first_line.startswith(MARKER) and first_line.endswith(" -->")
    assert html.count(MARKER) == 1
    for tag in ("<a ", "<img", "<script", "<strong>No changes", "<h1", "<h2", "<li"):
        assert tag not in html
    assert github_links(rendered) == []
    visible = rendered.visible()
    for text in shown:
        assert text in visible
    return rendered


def test_platform_strings_reach_the_terminal_inert(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform_strings(workspace, CORPUS)
    plan = workspace.plan()
    assert plan.code == 0, plan.err
    assert_terminal_safe(plan, CORPUS)
    assert "dataflow(s) managed by provisioner are in no given manifest" in plan.out
    pruned = workspace.plan("--prune")
    assert_terminal_safe(pruned, CORPUS)
    assert pruned.out.count("  - dataflow ") == len(CORPUS)
    assert_terminal_safe(confirm_on_terminal(workspace, monkeypatch), CORPUS)


def test_platform_strings_in_the_markdown_comment(workspace: Workspace, tmp_path: Path) -> None:
    platform_strings(workspace, CORPUS)
    result = workspace.plan("--format", "markdown", "--prune")
    assert result.code == 0, result.err
    emulator = EmulatorApp()  # the same scenario with benign strings, on its own platform
    with serving(emulator) as url:
        twin = Workspace(tmp_path / "benign", url, emulator)
        platform_strings(twin, BENIGN)
        benign = twin.plan("--format", "markdown", "--prune")
    shown = [for_terminal(text) for text in CORPUS.values()]  # the audiences' lines, in full
    assert_markdown_safe(result.out, benign.out, shown)


def test_platform_strings_stay_exact_in_json(workspace: Workspace) -> None:
    platform_strings(workspace, CORPUS)
    result = workspace.plan("--format", "json", "--prune")
    assert result.code == 0, result.err
    assert hidden_characters(result.out) == []  # JSON escapes them
    changes = result.json["changes"]
    orders = next(c for c in changes if c["name"] == "orders")
    for key, text in CORPUS.items():
        assert orders["audience_names"][audience_id(key)] == text
    deleted = {c["name"] for c in changes if c["action"] == "delete" and c["type"] == "flow"}
    assert deleted == {marker_key(text) for text in CORPUS.values()}


def test_manifest_strings_in_every_format(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manifest_strings(workspace, MANIFEST_CORPUS)
    text = workspace.plan()
    assert text.code == 0, text.err
    assert_terminal_safe(text, MANIFEST_CORPUS)
    assert_terminal_safe(confirm_on_terminal(workspace, monkeypatch), MANIFEST_CORPUS)
    as_json = workspace.plan("--format", "json").json
    flow = next(c for c in as_json["changes"] if c["type"] == "flow")
    assert flow["audience_names"] == {audience_id(k): v for k, v in MANIFEST_CORPUS.items()}
    markdown = workspace.plan("--format", "markdown")
    assert markdown.code == 0, markdown.err
    benign_ws = Workspace(tmp_path / "benign", workspace.url, workspace.emulator)
    benign_ws.env = workspace.env
    manifest_strings(benign_ws, {k: BENIGN[k] for k in MANIFEST_CORPUS})
    benign = benign_ws.plan("--format", "markdown")
    shown = [for_terminal(text) for text in MANIFEST_CORPUS.values()]
    assert_markdown_safe(markdown.out, benign.out, shown)


# Workflow commands of a CI runner (GitHub Actions): obeyed at a line's start, or anywhere.
RUNNER_CORPUS = {
    "runner-mask": "::add-mask::aws-secret-canary-77ab",
    "runner-stop": "  ::stop-commands::pwned",
    "runner-legacy": "##[error]spoofed ##[group]x",
    "runner-after-break": "fine\r::set-output name=x::y",
}


def test_platform_strings_cannot_command_the_runner(workspace: Workspace) -> None:
    workspace.env["GITHUB_ACTIONS"] = "true"
    platform_strings(workspace, CORPUS | RUNNER_CORPUS)
    for output_format in ("text", "markdown", "json"):
        result = workspace.plan("--format", output_format, "--prune")
        assert result.code == 0, result.err
        for stream in (result.out, result.err):
            lines = stream.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            assert [line for line in lines if line.lstrip().startswith("::")] == []
            assert [line for line in lines if "##[" in line] == []


HOSTILE_MESSAGE = " ".join(CORPUS.values())


def error_lines(outcome: Outcome) -> list[str]:
    """Standard error without debug logs (an earlier `--debug` in the same process may have
    left its handler on the logger)."""
    return [line for line in outcome.err.splitlines() if not line.startswith("debug: ")]


def _failing_on(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, method: str, path_end: str
) -> None:
    """The emulator answers 400 with the corpus as its message to one kind of request."""
    respond = workspace.emulator.respond

    def hostile(request: Request) -> Response:
        if request.method == method and request.path.endswith(path_end):
            body = {"title": "BadRequest", "report": {"detailed-message": HOSTILE_MESSAGE}}
            return 400, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return respond(request)

    monkeypatch.setattr(workspace.emulator, "respond", hostile)


def test_platform_error_message_is_one_inert_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [A]))
    _failing_on(workspace, monkeypatch, "GET", "/flows")
    result = workspace.plan()
    assert result.code == 1
    assert hidden_characters(result.err) == []
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    # the client drops the platform's control characters; the text around them stays
    assert "Plan: 0 to create" in lines[0] and len(lines[0]) < 1200


def test_apply_failures_quoting_the_platform_are_inert(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write("orders.yaml", kinesis("orders", [A]))
    _failing_on(workspace, monkeypatch, "POST", "/flows")
    result = workspace.apply()
    assert result.code == 1
    assert hidden_characters(result.out + result.err) == []
    errors = [line for line in error_lines(result) if line.startswith("error: ")]
    assert len(errors) == len(error_lines(result)) == 2, result.err  # the flow; the total
    assert "owned" in errors[0]  # the platform's words, without their control characters


def test_validate_quotes_a_manifest_inertly(workspace: Workspace) -> None:
    workspace.write("bad.yaml", kinesis("orders", [A]) + '"\\e[2K\\rstrem\\u202e": 1\n"a\\nb": 2\n')
    result = workspace.run("validate", "manifests")
    assert result.code == 1
    assert hidden_characters(result.out + result.err) == []
    assert "\\x1b[2K\\x0dstrem\\u202e" in result.err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed")
def test_markdown_comment_screenshot(workspace: Workspace, tmp_path: Path) -> None:
    """The comment as a browser draws it (GitHub's HTML, without its style sheet): the
    screenshot is left in the test's folder for a person to look at."""
    platform_strings(workspace, CORPUS)
    result = workspace.plan("--format", "markdown", "--prune")
    page = tmp_path / "comment.html"
    page.write_text(f"<meta charset=utf-8>{render_gfm(result.out)}", encoding="utf-8")
    shot = tmp_path / "comment.png"
    chromium = shutil.which("chromium") or "chromium"
    options = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,3000"]
    subprocess.run(
        [chromium, *options, f"--screenshot={shot}", page.as_uri()],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert shot.stat().st_size > 1000
