"""The GitHub Action's step (action.yml): run validate, plan, apply, status or check;
publish the outcome.

Run as `python -m provisioner.review.action` with the action's inputs in `INPUT_*`
variables. It writes the step outputs to `$GITHUB_OUTPUT`, the plan (or the report of
apply, status or check) to `$GITHUB_STEP_SUMMARY`, posts the plan on the pull request when
asked, and exits with the command's exit code, except a plan's 2 (changes to review), which
is a success: the `exitcode` output keeps it. So exit 2 from `apply --wait-healthy`,
`status` or `check` (a dataflow not delivering, a destination not reachable) fails the step.

It prints, though it is outside `cli/`: it is a command-line entry point of its own (the
runner starts it, not `provisioner`), and what it prints is the step's log: the commands
it runs, their output as they gave it, and one-line notes made safe for the runner's log
(`runner_log.py`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import EXIT_CHANGES, EXIT_OK, EXIT_USER_ERROR, ProvisionerError
from provisioner.health.durations import DurationError, parse_duration
from provisioner.health.model import StatusReport
from provisioner.render.status import (
    UNICODE_MARKS,
    github_annotations,
    render_status_markdown,
    render_status_text,
)
from provisioner.review.context import (
    forge_from_env,
    github_event,
    is_fork_pull_request,
    pull_request_number,
)
from provisioner.review.post import post_plan
from provisioner.runner_log import for_runner_log

COMMANDS = ("validate", "plan", "apply", "status", "check")
COUNTS = ("create", "update", "replace", "delete")
OFF = ("", "false")  # wait-healthy values that do not wait


@dataclass
class Inputs:
    command: str
    paths: list[str]
    environment: str
    comment: bool
    args: list[str]
    wait_healthy: list[str] = field(default_factory=list)  # apply's option, or nothing

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        command = env.get("INPUT_COMMAND", "plan").strip() or "plan"
        if command not in COMMANDS:
            raise ProvisionerError(f"input command must be one of {', '.join(COMMANDS)}")
        args = shlex.split(env.get("INPUT_ARGS", ""))
        if any(a == "--format" or a.startswith("--format=") for a in args):
            raise ProvisionerError("input args may not set --format: the action chooses it")
        return cls(
            command=command,
            paths=env.get("INPUT_PATHS", "").split(),
            environment=env.get("INPUT_ENV", "").strip(),
            comment=env.get("INPUT_COMMENT", "true").strip().lower() == "true",
            args=args,
            wait_healthy=wait_option(command, env.get("INPUT_WAIT_HEALTHY", "")),
        )


def wait_option(command: str, value: str) -> list[str]:
    """The wait-healthy input as apply's option: empty or `false` does not wait, `true`
    waits for the default time, a duration (`90m`) for that long."""
    value = value.strip()
    if value.lower() in OFF:
        return []
    if command != "apply":
        raise ProvisionerError("input wait-healthy is for command apply only")
    if value.lower() == "true":
        return ["--wait-healthy"]
    try:
        parse_duration(value)
    except DurationError as error:
        raise ProvisionerError(
            f"input wait-healthy must be true, false or a duration: {error}"
        ) from None
    # With `=`: an optional value never takes the next word.
    return [f"--wait-healthy={value}"]


@dataclass
class StepResult:
    exitcode: int
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    to_post: str = ""  # the Markdown plan to post on the pull request, if asked


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        inputs = Inputs.from_env(env)
        result = run_step(inputs, env)
    except ProvisionerError as error:
        _say(f"::error::{_escape(str(error))}", command=True)
        return EXIT_USER_ERROR
    _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in result.outputs.items()))
    _append(env.get("GITHUB_STEP_SUMMARY"), result.summary)
    if result.to_post:
        try:
            _comment(result.to_post, env)
        except ProvisionerError as error:
            _say(f"::error::{_escape(str(error))}", command=True)
            return EXIT_USER_ERROR
    return step_exit(inputs.command, result.exitcode)


def step_exit(command: str, code: int) -> int:
    """The step's exit: the command's, except a plan's changes, which are what review is for.
    Everywhere else 2 says something is not delivering or not reachable: the step fails."""
    return EXIT_OK if command == "plan" and code == EXIT_CHANGES else code


def run_step(inputs: Inputs, env: dict[str, str]) -> StepResult:
    child_env = {**env, **({"PROVISIONER_ENV": inputs.environment} if inputs.environment else {})}
    if inputs.command == "validate":
        code, _ = _provisioner(
            ["validate", "--format", "github", *inputs.paths, *inputs.args], child_env
        )
        return StepResult(code, {"exitcode": str(code), "has-changes": "false"})
    if inputs.command == "apply":
        command = ["apply", *inputs.paths, "--auto-approve", *inputs.args, *inputs.wait_healthy]
        code, out = _provisioner(command, child_env)
        return StepResult(
            code, {"exitcode": str(code), "has-changes": "false"}, _report(command, out)
        )
    if inputs.command == "check":
        # Annotations on the manifests in the log; the report alone in the summary.
        command = ["check", *inputs.paths, "--format", "github", *inputs.args]
        code, out = _provisioner(command, child_env)
        report = "".join(line for line in out.splitlines(True) if not line.startswith("::"))
        return StepResult(code, {"exitcode": str(code)}, _report(command, report))
    if inputs.command == "status":
        return _status(inputs, child_env)
    return _plan(inputs, child_env)


def _report(command: Sequence[str], out: str) -> str:
    return f"### provisioner {command[0]}\n\n```text\n{out}```\n" if out else ""


def _status(inputs: Inputs, env: dict[str, str]) -> StepResult:
    """One read of the platform, as JSON; the log, the annotations and the job summary are
    rendered from it."""
    command = ["status", *inputs.paths, "--format", "json", *inputs.args]
    code, out = _provisioner(command, env, echo=False)
    outputs = {"exitcode": str(code)}
    if code not in (EXIT_OK, EXIT_CHANGES):
        return StepResult(code, outputs)
    report = StatusReport.model_validate_json(out)
    for line in github_annotations(report):
        _say(line, command=True)
    _say(render_status_text(report, marks=UNICODE_MARKS).rstrip("\n"))
    outputs |= {
        "healthy": str(report.healthy).lower(),
        "unhealthy": str(report.summary.unhealthy),
        "has-changes": str(report.summary.changes_pending > 0).lower(),
    }
    return StepResult(code, outputs, render_status_markdown(report, UNICODE_MARKS))


def _plan(inputs: Inputs, env: dict[str, str]) -> StepResult:
    folder = Path(env.get("RUNNER_TEMP") or ".") / "provisioner"
    folder.mkdir(parents=True, exist_ok=True)
    plan_file, markdown_file = folder / "plan.json", folder / "plan.md"
    command = [
        "plan",
        *inputs.paths,
        "--format",
        "markdown",
        "--out",
        str(plan_file),
        "--detailed-exitcode",
        *inputs.args,
    ]
    code, markdown = _provisioner(command, env)
    outputs = {"exitcode": str(code)}
    if code not in (EXIT_OK, EXIT_CHANGES):
        return StepResult(code, outputs)
    markdown_file.write_text(markdown, encoding="utf-8")
    summary = json.loads(plan_file.read_text(encoding="utf-8")).get("summary", {})
    outputs |= {name: str(int(summary.get(name, 0))) for name in COUNTS}
    outputs |= {"has-changes": str(code == EXIT_CHANGES).lower(), "plan-file": str(plan_file)}
    return StepResult(code, outputs, markdown, markdown if inputs.comment else "")


def _comment(markdown: str, env: dict[str, str]) -> None:
    """Post the plan on the pull request; outside one there is nothing to post on, and a
    fork's read-only token cannot post (the job summary still shows the plan)."""
    event = github_event(env)
    if pull_request_number(event) is None:
        _say("Not a pull request: the plan is in the job summary, no comment posted.")
        return
    if is_fork_pull_request(event):
        _say(
            "::warning::This pull request comes from a fork, whose GITHUB_TOKEN is read-only: "
            "the plan is in the job summary, no comment posted.",
            command=True,
        )
        return
    forge = forge_from_env(env, "github")
    try:
        outcome = post_plan(forge, markdown)
    finally:
        forge.close()
    _say(outcome.describe(forge.where))


def _provisioner(args: Sequence[str], env: Mapping[str, str], echo: bool = True) -> tuple[int, str]:
    """Run the CLI with this interpreter; its stdout is returned (and echoed, unless it is
    for the action to render), its stderr goes to the log as it comes."""
    shown = " ".join(shlex.quote(a) for a in args)
    _say(f"$ provisioner {shown}")
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if echo:
        # Already guarded by the CLI itself (GITHUB_ACTIONS is set), annotations and all.
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
    return done.returncode, done.stdout


def _say(line: str, command: bool = False) -> None:
    """A line for the runner's log: a workflow command only when `command` says so (and
    only its leading `::`), whatever an error message or a path put in it."""
    print(for_runner_log(line, command), flush=True)


def _append(path: str | None, text: str) -> None:
    if path and text:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


if __name__ == "__main__":
    sys.exit(main())
