"""The GitHub Action's status and check commands and its wait-healthy input, run as the runner
would (`action_support.py`) against a served emulator whose clock the tests run."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.server import serving
from provisioner.review.action import step_exit, wait_option
from tests.action_support import Runner, installed_copy, write_orders
from tests.forge_fakes import FakeGitHub
from tests.forge_fakes import serving as serving_forge
from tests.workspace import AUDIENCES


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


@contextlib.contextmanager
def platform_for(runner: Runner) -> Iterator[tuple[EmulatorApp, str]]:
    """A served emulator the job reaches with credentials, whose clock a test can run."""
    app = EmulatorApp()
    with serving(app) as url:
        runner.env = {
            "AEP_CLIENT_ID": DEFAULT_CLIENT_ID,
            "AEP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "AEP_ORG_ID": DEFAULT_ORG,
            "AEP_IMS_URL": url,
        }
        yield app, url


def test_status_publishes_a_healthy_report(runner: Runner) -> None:
    write_orders(runner, [AUDIENCES[0]])
    with platform_for(runner) as (app, url):
        applied = runner.run(command="apply", paths="manifests", platform_url=url)
        assert applied.code == 0, applied.log
        app.advance(hours=1)
        step = runner.run(command="status", paths="manifests", platform_url=url)
    assert step.code == 0, step.log
    assert step.outputs == {
        "exitcode": "0", "healthy": "true", "unhealthy": "0", "has-changes": "false"
    }  # fmt: skip
    assert re.search(r"ok +orders +enabled +in step +success", step.log), step.log
    assert step.summary.startswith("### provisioner status") and "orders" in step.summary
    [tool] = step.tool_runs()
    assert tool["argv"][1:] == ["status", "manifests", "--format", "json"]  # one read


def test_an_unhealthy_status_annotates_and_fails_the_step(runner: Runner) -> None:
    write_orders(runner, [AUDIENCES[0]])
    with platform_for(runner) as (app, url):
        assert runner.run(command="apply", paths="manifests", platform_url=url).code == 0
        [(_, flow)] = app.store.entries("flows", "prod")
        app.runs.faults.set(flow["targetConnectionIds"][0], "unreachable")
        app.advance(hours=1)
        step = runner.run(command="status", paths="manifests", platform_url=url)
    assert step.code == 2, step.log
    assert step.outputs["exitcode"] == "2"
    assert step.outputs["healthy"] == "false" and step.outputs["unhealthy"] == "1"
    assert re.search(r"^::error file=manifests/orders\.yaml,line=\d+", step.log, re.M), step.log
    assert "CONNECTOR-1001-500" in step.log and "CONNECTOR-1001-500" in step.summary


def test_wait_healthy_passes_the_timeout_to_apply_and_fails_on_it(runner: Runner) -> None:
    write_orders(runner, [AUDIENCES[0]])
    step = runner.run(
        command="apply", paths="manifests", platform_url="emulator", wait_healthy="1s"
    )
    [tool] = step.tool_runs()
    assert tool["argv"][1:] == [
        "apply", "manifests", "--auto-approve", "--emulator", "--wait-healthy=1s"
    ]  # fmt: skip
    # Applied, then no run within a second: the job must not go on as if delivering.
    assert step.code == 2, step.log
    assert step.outputs["exitcode"] == "2"
    assert "timed out" in step.log and "Apply finished: " in step.summary


@pytest.mark.parametrize(
    ("value", "option"), [("true", "--wait-healthy"), ("TRUE", "--wait-healthy"),
                          ("90m", "--wait-healthy=90m"), ("false", None), ("", None)],
)  # fmt: skip
def test_the_wait_healthy_input(value: str, option: str | None) -> None:
    assert wait_option("apply", value) == ([option] if option else [])


@pytest.mark.parametrize(
    ("command", "value", "message"),
    [("apply", "soon", "input wait-healthy must be true, false or a duration: 'soon'"),
     ("apply", "90", "input wait-healthy must be true, false or a duration: '90' has no unit"),
     ("plan", "true", "input wait-healthy is for command apply only")],
)  # fmt: skip
def test_a_wait_healthy_input_that_cannot_work_is_refused(
    runner: Runner, command: str, value: str, message: str
) -> None:
    write_orders(runner)
    step = runner.run(command=command, paths="manifests", wait_healthy=value)
    assert step.code == 1
    assert f"::error::{message}" in step.log
    assert step.tool_runs() == []  # refused before the tool started


def test_args_may_not_choose_the_format(runner: Runner) -> None:
    step = runner.run(command="status", paths="manifests", args="--format=text")
    assert step.code == 1
    assert "::error::input args may not set --format" in step.log
    assert step.tool_runs() == []


def test_check_runs_the_check_and_reports_its_exit(runner: Runner) -> None:
    """Whatever the destinations answer here (nothing reaches AWS from a test), the step
    runs `check` on the paths, keeps its report, and fails exactly as the command did."""
    write_orders(runner)
    # The AWS SDK's own setting: a closed port on loopback, never AWS itself.
    runner.env = {
        "AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    step = runner.run(command="check", paths="manifests")
    [tool] = step.tool_runs()
    assert tool["argv"][1:] == ["check", "manifests", "--format", "github"]
    assert step.outputs == {"exitcode": str(step.code)}
    assert step.code == 2, step.log  # no stream is reachable here: the step fails
    assert re.search(r"^::error file=manifests/orders\.yaml,line=\d+", step.log, re.M), step.log
    assert step.summary.startswith("### provisioner check\n\n```text\n")
    assert "orders" in step.summary and "::error" not in step.summary


@pytest.mark.parametrize(
    ("command", "code", "step"),
    [("plan", 2, 0), ("plan", 0, 0), ("plan", 1, 1), ("status", 2, 2), ("check", 2, 2),
     ("apply", 2, 2), ("apply", 3, 3), ("validate", 1, 1)],
)  # fmt: skip
def test_the_step_fails_unless_the_command_succeeded(command: str, code: int, step: int) -> None:
    """A plan's changes are for review; any other 2 is something not delivering."""
    assert step_exit(command, code) == step
