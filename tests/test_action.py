"""The GitHub Action (action.yml): its steps run under bash as the runner would
(`action_support.py`), against the embedded emulator and a fake GitHub API on loopback:
validate, plan with its comment, apply, and the trust boundary."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.server import serving
from tests.action_support import (
    BASH,
    ID_TOKEN,
    PINNED,
    ROOT,
    VENV,
    Runner,
    action,
    install_step,
    installed_copy,
    write_orders,
)
from tests.forge_fakes import GITHUB_TOKEN, FakeGitHub
from tests.forge_fakes import serving as serving_forge
from tests.workspace import AUDIENCES, SECRETS, kinesis


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_copy(tmp_path_factory.mktemp("installed"))


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    with serving_forge(fake) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def runner(tmp_path: Path, github: FakeGitHub, venv: Path) -> Runner:
    return Runner(tmp_path / "workspace", github.url, venv)  # type: ignore[attr-defined]


def test_plan_posts_the_comment_and_sets_the_outputs(runner: Runner, github: FakeGitHub) -> None:
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
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
    write_orders(runner)
    applied = runner.run(command="apply", paths="manifests", platform_url="emulator")
    assert applied.code == 0, applied.log
    assert applied.outputs["exitcode"] == "0"
    assert "Apply finished: " in applied.summary
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert step.code == 0, step.log
    assert step.outputs["has-changes"] == "false" and step.outputs["create"] == "0"
    assert github.writes() == []


def test_validate_annotates_problems_and_fails(runner: Runner, github: FakeGitHub) -> None:
    bad = kinesis("orders").replace("us-east-1", "US-EAST-1")
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
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert step.code == 0, step.log
    assert "::warning::This pull request comes from a fork" in step.log
    assert "<!-- provisioner-plan" in step.summary
    assert github.seen == []


def test_pull_request_target_posts_for_a_fork(runner: Runner, github: FakeGitHub) -> None:
    """The deployment docs/safety.md describes: the base branch's workflow, whose token may
    comment whatever the pull request's origin."""
    runner.event_name = "pull_request_target"
    runner.event["pull_request"]["head"]["repo"]["full_name"] = "someone/repo"
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert step.code == 0, step.log
    assert [c["body"] for c in github.comments[12]] == [step.summary]


def test_outside_a_pull_request_nothing_is_posted(runner: Runner, github: FakeGitHub) -> None:
    runner.event_name, runner.event = "push", {"ref": "refs/heads/main"}
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert step.code == 0, step.log
    assert "Not a pull request: the plan is in the job summary" in step.log
    assert github.seen == []


def test_an_unknown_command_is_refused(runner: Runner) -> None:
    step = runner.run(command="destroy")
    assert step.code == 1
    assert "::error::input command must be one of validate, plan, apply, status, check" in step.log
    assert step.tool_runs() == []


# the trust boundary ---------------------------------------------------------------------

CANARY_NAME = "checkout-code-ran"


def plant_hostile_code(checkout: Path, canary: Path) -> None:
    """A pull request's files that would run if anything imported from the checkout: a
    `provisioner` package, Python's start-up hooks, and stand-ins for venv and pip."""
    payload = f"open({str(canary)!r}, 'a').write(__name__ + '\\n')\n"
    for module in ("provisioner", "venv", "pip", "provisioner/review", "provisioner/cli"):
        (checkout / module).mkdir(parents=True, exist_ok=True)
        (checkout / module / "__init__.py").write_text(payload)
        (checkout / module / "__main__.py").write_text(payload)
    (checkout / "provisioner" / "review" / "action.py").write_text(payload)
    for hook in ("sitecustomize.py", "usercustomize.py", "click.py", "httpx.py"):
        (checkout / hook).write_text(payload)


def test_a_hostile_checkout_runs_none_of_its_code(runner: Runner, github: FakeGitHub) -> None:
    canary = runner.root.parent / CANARY_NAME
    plant_hostile_code(runner.root, canary)
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert not canary.exists(), canary.read_text()
    assert step.code == 0, step.log
    assert step.outputs["has-changes"] == "true"  # the installed tool planned
    assert [c["body"] for c in github.comments[12]] == [step.summary]
    [tool] = step.tool_runs()
    installed = (runner.runner_temp / VENV).resolve()
    assert Path(tool["argv"][0]).resolve().is_relative_to(installed), tool


def test_the_tool_runs_without_the_forge_token(runner: Runner, github: FakeGitHub) -> None:
    """Manifests are the pull request's: the processes that read them never hold a token
    that writes to the forge, even when the job sets one for everything."""
    runner.env = {"GITHUB_TOKEN": GITHUB_TOKEN, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ID_TOKEN}
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert step.code == 0, step.log
    [tool] = step.tool_runs()
    assert tool["token"] is False and tool["id_token"] is False
    [poster] = [p for p in step.processes if p["argv"][1:2] == ["comment"]]
    assert poster["token"] is True  # only the step that posts holds it
    assert [c["body"] for c in github.comments[12]] == [step.summary]


@pytest.mark.parametrize(
    "args", ["--platform-url https://elsewhere.example", "--platform-url=http://127.0.0.1:1",
             "--sandbox prod --emulator"],
)  # fmt: skip
def test_args_cannot_name_the_target(runner: Runner, args: str) -> None:
    write_orders(runner)
    step = runner.run(command="plan", paths="manifests", args=args)
    assert step.code == 1
    assert "::error::input args may not name the target" in step.log
    assert step.processes == []  # refused before the tool started


def test_the_platform_url_input_outranks_the_project_file(
    runner: Runner, github: FakeGitHub
) -> None:
    (runner.root / "provisioner.yaml").write_text(
        "environments:\n  prod:\n    sandbox: prod\n    platformUrl: https://platform.adobe.io\n",
        encoding="utf-8",
    )
    runner.env = {
        "AEP_CLIENT_ID": DEFAULT_CLIENT_ID,
        "AEP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "AEP_ORG_ID": DEFAULT_ORG,
    }
    write_orders(runner)
    with serving(EmulatorApp()) as url:
        runner.env["AEP_IMS_URL"] = url
        step = runner.run(command="plan", paths="manifests", env="prod", platform_url=url)
    assert step.code == 0, step.log
    assert f"Target: {url} (org {DEFAULT_ORG}, sandbox prod)" in step.log
    assert step.outputs["has-changes"] == "true"


def test_the_action_pins_what_it_uses_and_installs_with_the_constraints() -> None:
    text = (ROOT / "action.yml").read_text("utf-8")
    uses = [s["uses"] for s in action()["runs"]["steps"] if "uses" in s]
    assert uses and all(PINNED.fullmatch(u) for u in uses), uses
    for used in uses:
        assert re.search(re.escape(used) + r" # v\d+\.\d+\.\d+\n", text), used
    script = install_step()["run"]
    assert '--constraint "$GITHUB_ACTION_PATH/constraints.txt" "$GITHUB_ACTION_PATH"' in script
    assert 'cd "$RUNNER_TEMP"' in script
    assert "GITHUB_PATH" not in text  # later steps of the job keep their own Python


@pytest.mark.installs
def test_the_install_step_in_a_hostile_checkout(tmp_path: Path) -> None:
    """The install step for real (pip reaches the package index, with constraints.txt), in a
    checkout whose files would run if Python or pip imported from it; then a plan with the
    tool it installed."""
    action_path = tmp_path / "action"  # a copy: pip builds in the source folder
    action_path.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt", "action.yml"):
        shutil.copy(ROOT / name, action_path)
    shutil.copytree(
        ROOT / "provisioner", action_path / "provisioner", ignore=shutil.ignore_patterns("*.pyc")
    )
    checkout, runner_temp, canary = tmp_path / "checkout", tmp_path / "temp", tmp_path / "canary"
    checkout.mkdir()
    runner_temp.mkdir()
    plant_hostile_code(checkout, canary)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "GITHUB_"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(action_path),
        "RUNNER_TEMP": str(runner_temp),
    }
    step = install_step()
    done = subprocess.run(
        [*BASH, step["run"]],
        cwd=checkout,
        env={**env, **step["env"]},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not canary.exists(), canary.read_text()
    tool = runner_temp / VENV / "bin" / "provisioner"
    (checkout / "manifests").mkdir()
    (checkout / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    planned = subprocess.run(
        [str(tool), "plan", "manifests", "--emulator"],
        cwd=checkout,
        env={**env, **SECRETS, "PYTHONSAFEPATH": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert "to create" in planned.stdout
    assert not canary.exists(), canary.read_text()


def test_a_pull_request_from_first_push_to_merge(runner: Runner, github: FakeGitHub) -> None:
    """The whole review chain against the fakes: a bad manifest is annotated on its line; a
    push posts one comment; the next push updates it; a push without change leaves it; the
    merge applies the saved plan, after which nothing is left to do."""
    manifest = runner.root / "manifests" / "orders.yaml"
    manifest.write_text(kinesis("orders").replace("us-east-1", "US-EAST-1"), "utf-8")
    checked = runner.run(command="validate", paths="manifests")
    assert checked.code == 1 and "::error file=manifests/orders.yaml,line=" in checked.log

    write_orders(runner, [AUDIENCES[0]])
    first = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert first.code == 0, first.log
    assert [c["body"] for c in github.comments[12]] == [first.summary]

    write_orders(runner, AUDIENCES[:2])
    second = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert second.code == 0, second.log
    assert [c["body"] for c in github.comments[12]] == [second.summary]  # the same one
    writes = len(github.writes())
    assert writes == 2  # one create, one update

    again = runner.run(command="plan", paths="manifests", platform_url="emulator")
    assert again.code == 0, again.log
    assert len(github.writes()) == writes  # the same text: not touched

    merged = runner.run(
        command="apply",
        paths="manifests",
        args=f"--plan {again.outputs['plan-file']}",
        platform_url="emulator",
    )
    assert merged.code == 0, merged.log
    assert "Apply finished: " in merged.summary and "0 failed" in merged.summary
    after = runner.run(
        command="plan", paths="manifests", args="--detailed-exitcode", platform_url="emulator"
    )
    assert after.outputs["has-changes"] == "false", after.log
    [comment] = github.comments[12]  # still one comment, now saying there is nothing to do
    assert comment["body"] == after.summary and "No changes" in comment["body"]
