"""Under GitHub Actions no output line can become a workflow command (contract section 6).

The runner obeys a line that starts with `::` after blanks (`::add-mask::`, `::stop-commands::`)
and `##[` anywhere in a line. A manifest's file name, a dataflow's name, a description edited
in the AEP UI or an audience name must not give it one. Every command runs here in-process
through the real entry point with GITHUB_ACTIONS=true, on hostile names and values, and no
line of its stdout or stderr may be a command, except the annotations that
`validate --format github` means.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provisioner.runner_log import RunnerLog, for_runner_log
from tests.forge_fakes import GITHUB_TOKEN, FakeGitHub, serving
from tests.workspace import AUDIENCES, Outcome, Workspace, kinesis

A = AUDIENCES[0]
# The runner splits lines at \n and \r, and trims .NET white space before looking for `::`.
_LINES = re.compile(r"\r\n|\r|\n")
_COMMAND = re.compile(r"[\s\ufeff\u200b]*::")
# What `validate --format github` writes: its properties escape ':' and ',', its message
# line breaks, so a hostile file name cannot end the command early or start another.
_ANNOTATION = re.compile(r"::(error|warning) file=[^:,]*(,line=\d+(,col=\d+)?)?::.*")

FLOW_NAME = "::add-mask::flow ##[error]name"
GOOD_FILE = "::add-mask::good.yaml"
BAD_FILES = ("::stop-commands::tok.yaml", "##[error]bad.yaml", "  ::error title=x::c.yaml")
LIVE_DESCRIPTION = "edited in the UI\n::add-mask::leak\n  ##[warning]spoof\r::stop-commands::t"
# What `import` can write into a manifest: printable only.
IMPORTED_DESCRIPTION = "::add-mask::leak ##[warning]spoof"


def runner_commands(text: str) -> list[str]:
    return [line for line in _LINES.split(text) if _COMMAND.match(line) or "##[" in line]


def assert_no_commands(outcome: Outcome) -> None:
    assert runner_commands(outcome.out) == [], outcome.out
    assert runner_commands(outcome.err) == [], outcome.err


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.env["GITHUB_ACTIONS"] = "true"
    good = kinesis(json.dumps(FLOW_NAME), [A], description="##[group]described")
    (workspace.root / GOOD_FILE).write_text(good, encoding="utf-8")
    for name in BAD_FILES:
        (workspace.root / name).write_text("version: 1\nname: x\nbogus: 1\n", encoding="utf-8")
    return workspace


def test_validate_in_every_format(ws: Workspace) -> None:
    text = ws.run("validate", *BAD_FILES, GOOD_FILE)
    assert text.code == 1
    assert_no_commands(text)
    assert ": :stop-commands::tok.yaml:3:1: error: unknown key 'bogus'" in text.err
    assert "# #[error]bad.yaml:3:1: error:" in text.err
    for output_format in ("json", "sarif"):
        outcome = ws.run("validate", "--format", output_format, *BAD_FILES, GOOD_FILE)
        assert outcome.code == 1
        assert_no_commands(outcome)


def test_validate_github_annotations_are_the_only_commands(ws: Workspace) -> None:
    counted = ws.run("validate", "--format", "json", *BAD_FILES)
    problems = json.loads(counted.out.replace("# #[", "##["))["problems"]
    outcome = ws.run("validate", "--format", "github", *BAD_FILES)
    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert len(lines) == len(problems) == 6
    for line in lines:
        assert _ANNOTATION.fullmatch(line), line
        assert "##[" not in line
    assert "::error file=%3A%3Astop-commands%3A%3Atok.yaml,line=3,col=1::" in outcome.out
    assert runner_commands(outcome.err) == []


def test_plan_apply_import_and_destroy(ws: Workspace) -> None:
    for output_format in ("text", "json", "markdown", "gitlab-report"):
        plan = ws.run("plan", GOOD_FILE, "--format", output_format)
        assert plan.code == 0, plan.err
        assert_no_commands(plan)
    invalid = ws.run("plan", *BAD_FILES)
    assert invalid.code == 1
    assert_no_commands(invalid)

    applied = ws.run("apply", GOOD_FILE, "--auto-approve")
    assert applied.code == 0, applied.err
    assert_no_commands(applied)
    assert "# #[error]name" in applied.out  # shown, inert

    flow = ws.flow(FLOW_NAME)
    edit = [{"op": "replace", "path": "/description", "value": LIVE_DESCRIPTION}]
    ws.emulator.resources.outside_edit("flows", "prod", flow["id"], edit)
    drifted = ws.run("plan", GOOD_FILE)
    assert drifted.code == 0, drifted.err
    assert_no_commands(drifted)
    edit = [{"op": "replace", "path": "/description", "value": IMPORTED_DESCRIPTION}]
    ws.emulator.resources.outside_edit("flows", "prod", flow["id"], edit)
    imported = ws.run("import", "--name", FLOW_NAME)
    assert imported.code == 0, imported.err
    assert_no_commands(imported)
    assert "# #[warning]spoof" in imported.out  # shown, inert

    destroyed = ws.run("destroy", GOOD_FILE, "--auto-approve")
    assert destroyed.code == 0, destroyed.err
    assert_no_commands(destroyed)


def test_comment(ws: Workspace, tmp_path: Path) -> None:
    fake = FakeGitHub()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}}), encoding="utf-8")
    with serving(fake) as url:
        ws.env |= {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": url,
            "GITHUB_TOKEN": GITHUB_TOKEN,
        }
        plan = ws.run("plan", GOOD_FILE, "--format", "markdown")
        assert plan.code == 0, plan.err
        posted_file = ws.root / "::add-mask::plan.md"
        posted_file.write_text(plan.out, encoding="utf-8")
        posted = ws.run("comment", posted_file.name)
        assert posted.code == 0, posted.err
        assert_no_commands(posted)
        unmarked = ws.root / "##[group]plan.md"
        unmarked.write_text("##[error]not a plan\n", encoding="utf-8")
        refused = ws.run("comment", unmarked.name)
    assert refused.code == 1
    assert_no_commands(refused)
    assert "# #[group]plan.md" in refused.err


def test_schema(ws: Workspace) -> None:
    for args in ((), ("--plan",), ("--project",)):
        outcome = ws.run("schema", *args)
        assert outcome.code == 0, outcome.err
        assert_no_commands(outcome)


def test_emulator(ws: Workspace) -> None:
    seed = ws.root / "::add-mask::seed.json"
    name = "x\n::add-mask::leak\n##[error]spoof"
    seed.write_text(json.dumps({"prod": [{"id": A, "name": name}]}), encoding="utf-8")
    db = str(ws.root / "emulator.db")
    seeded = ws.run("emulator", "audiences", "seed", seed.name, "--db", db)
    assert seeded.code == 0, seeded.err
    listed = ws.run("emulator", "audiences", "list", "--db", db, "--sandbox", "prod")
    assert listed.code == 0, listed.err
    assert_no_commands(seeded)
    assert_no_commands(listed)
    broken = ws.root / "##[error]seed.json"
    broken.write_text("[1]", encoding="utf-8")
    refused = ws.run("emulator", "audiences", "seed", broken.name, "--db", db)
    assert refused.code == 1
    assert_no_commands(refused)


def test_outside_github_actions_output_is_left_as_it_is(ws: Workspace) -> None:
    del ws.env["GITHUB_ACTIONS"]
    outcome = ws.run("validate", *BAD_FILES)
    assert outcome.err.startswith("::stop-commands::tok.yaml:1:1: error:")
    assert "##[error]bad.yaml" in outcome.err


# The guard on its own ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("::add-mask::x\n", ": :add-mask::x\n"),
        ("  ::x", "  : :x"),
        ("\t\u2003\ufeff::x", "\t\u2003\ufeff: :x"),
        ("a::b ::c", "a::b ::c"),
        (": :x", ": :x"),
        ("::", ": :"),
        (":", ":"),
        ("##[error]x", "# #[error]x"),
        ("x ##[y ##[z", "x # #[y # #[z"),
        ("###[x", "## #[x"),
        ("##x #[y", "##x #[y"),
        ("ok\r::x\r\n::y\n", "ok\r: :x\r\n: :y\n"),
        ("plain text\n", "plain text\n"),
    ],
)
def test_a_line_cannot_become_a_command(text: str, shown: str) -> None:
    assert for_runner_log(text) == shown
    assert runner_commands(shown) == []


def test_a_command_split_between_writes_is_caught() -> None:
    log = RunnerLog()
    pieces = [" ", ":", ":add-mask::x\nab#", "#", "[y\n:", "z\n#"]
    shown = "".join(log.feed(piece) for piece in pieces) + log.end()
    assert shown == " : :add-mask::x\nab# #[y\n:z\n#"
    assert runner_commands(shown) == []


def test_only_the_first_line_of_a_meant_command_keeps_its_colons() -> None:
    shown = for_runner_log("::error file=a,line=1::m ##[x]\n::add-mask::y\n", command=True)
    assert shown == "::error file=a,line=1::m # #[x]\n: :add-mask::y\n"
