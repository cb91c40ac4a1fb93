"""The GitHub Action (action.yml): its step run as the runner would, against the embedded
emulator and a fake GitHub API on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.forge_fakes import GITHUB_TOKEN, FakeGitHub, serving
from tests.workspace import AUDIENCES, SECRETS, kinesis

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "action.yml").read_text("utf-8"))
    return loaded


@dataclass
class StepRun:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str


class Runner:
    """Runs the action's main step in a job folder: expressions filled in from the inputs,
    as the runner does, and the variables GitHub Actions sets."""

    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root
        self.api_url = api_url
        (root / "manifests").mkdir()
        self.event: dict[str, Any] = {
            "pull_request": {
                "number": 12,
                "head": {"repo": {"full_name": "octo/repo"}},
                "base": {"repo": {"full_name": "octo/repo"}},
            }
        }

    def run(self, **inputs: str) -> StepRun:
        spec = action()
        values = {"github.token": GITHUB_TOKEN}
        for name, declared in spec["inputs"].items():
            values[f"inputs.{name}"] = self._fill(declared.get("default", ""), values)
        values |= {f"inputs.{k.replace('_', '-')}": v for k, v in inputs.items()}
        step = next(s for s in spec["runs"]["steps"] if s.get("id") == "run")
        step_env = {k: self._fill(v, values) for k, v in step["env"].items()}
        out, summary = self.root / "output.txt", self.root / "summary.md"
        for path in (out, summary):
            path.write_text("", encoding="utf-8")
        event_path = self.root / "event.json"
        event_path.write_text(json.dumps(self.event), encoding="utf-8")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "GITHUB_"))},
            **SECRETS,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "CI": "",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": self.api_url,
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(self.root / "runner-temp"),
            **step_env,
        }
        done = subprocess.run(
            ["bash", "-c", step["run"]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs = dict(
            line.split("=", 1) for line in out.read_text("utf-8").splitlines() if "=" in line
        )
        return StepRun(done.returncode, done.stdout + done.stderr, outputs, summary.read_text())

    @staticmethod
    def _fill(value: Any, values: dict[str, str]) -> str:
        return EXPRESSION.sub(lambda m: values[m.group(1)], str(value))


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    with serving(fake) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def runner(tmp_path: Path, github: FakeGitHub) -> Runner:
    return Runner(tmp_path, github.url)  # type: ignore[attr-defined]


def test_plan_posts_the_comment_and_sets_the_outputs(runner: Runner, github: FakeGitHub) -> None:
    (runner.root / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    step = runner.run(command="plan", paths="manifests", args="--emulator")
    assert step.code == 0, step.log
    assert step.outputs["has-changes"] == "true"
    assert step.outputs["exitcode"] == "2"
    counts = {k: int(step.outputs[k]) for k in ("create", "update", "replace", "delete")}
    assert counts["create"] >= 1 and counts["update"] == counts["delete"] == 0
    saved = json.loads(Path(step.outputs["plan-file"]).read_text("utf-8"))
    assert saved["summary"]["create"] == counts["create"]
    assert "<!-- provisioner-plan" in step.summary and "orders" in step.summary
    assert [c["body"] for c in github.comments[12]] == [step.summary]
    assert GITHUB_TOKEN not in step.log


def test_apply_then_plan_without_changes_posts_nothing(runner: Runner, github: FakeGitHub) -> None:
    (runner.root / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    applied = runner.run(command="apply", paths="manifests", args="--emulator")
    assert applied.code == 0, applied.log
    assert applied.outputs["exitcode"] == "0"
    assert "Apply finished: " in applied.summary
    step = runner.run(command="plan", paths="manifests", args="--emulator")
    assert step.code == 0, step.log
    assert step.outputs["has-changes"] == "false" and step.outputs["create"] == "0"
    assert github.writes() == []


def test_validate_annotates_problems_and_fails(runner: Runner, github: FakeGitHub) -> None:
    bad = kinesis("orders").replace("us-east-1", "mars-north-1")
    (runner.root / "manifests" / "orders.yaml").write_text(bad, encoding="utf-8")
    step = runner.run(command="validate", paths="manifests")
    assert step.code == 1
    assert step.outputs["exitcode"] == "1"
    assert "::error file=manifests/orders.yaml,line=" in step.log
    assert github.seen == []


def test_a_fork_pull_request_gets_the_summary_and_a_warning(
    runner: Runner, github: FakeGitHub
) -> None:
    runner.event["pull_request"]["head"]["repo"]["full_name"] = "someone/repo"
    (runner.root / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    step = runner.run(command="plan", paths="manifests", args="--emulator")
    assert step.code == 0, step.log
    assert "::warning::This pull request comes from a fork" in step.log
    assert "<!-- provisioner-plan" in step.summary
    assert github.seen == []


def test_an_unknown_command_is_refused(runner: Runner) -> None:
    step = runner.run(command="destroy")
    assert step.code == 1
    assert "::error::input command must be one of validate, plan, apply" in step.log


def test_a_pull_request_from_first_push_to_merge(runner: Runner, github: FakeGitHub) -> None:
    """The whole review chain against the fakes: a bad manifest is annotated on its line; a
    push posts one comment; the next push updates it; a push without change leaves it; the
    merge applies the saved plan, after which nothing is left to do."""
    manifest = runner.root / "manifests" / "orders.yaml"
    manifest.write_text(kinesis("orders").replace("us-east-1", "mars-north-1"), "utf-8")
    checked = runner.run(command="validate", paths="manifests")
    assert checked.code == 1 and "::error file=manifests/orders.yaml,line=" in checked.log

    manifest.write_text(kinesis("orders", [AUDIENCES[0]]), encoding="utf-8")
    first = runner.run(command="plan", paths="manifests", args="--emulator")
    assert first.code == 0, first.log
    assert [c["body"] for c in github.comments[12]] == [first.summary]

    manifest.write_text(kinesis("orders", AUDIENCES[:2]), encoding="utf-8")
    second = runner.run(command="plan", paths="manifests", args="--emulator")
    assert second.code == 0, second.log
    assert [c["body"] for c in github.comments[12]] == [second.summary]  # the same one
    writes = len(github.writes())
    assert writes == 2  # one create, one update

    again = runner.run(command="plan", paths="manifests", args="--emulator")
    assert again.code == 0, again.log
    assert len(github.writes()) == writes  # the same text: not touched

    merged = runner.run(
        command="apply", paths="manifests", args=f"--emulator --plan {again.outputs['plan-file']}"
    )
    assert merged.code == 0, merged.log
    assert "Apply finished: " in merged.summary and "0 failed" in merged.summary
    after = runner.run(command="plan", paths="manifests", args="--emulator --detailed-exitcode")
    assert after.outputs["has-changes"] == "false", after.log
    [comment] = github.comments[12]  # still one comment, now saying there is nothing to do
    assert comment["body"] == after.summary and "No changes" in comment["body"]
