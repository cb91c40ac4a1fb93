"""The GitHub Action's step (action.yml): run validate, plan or apply; publish the outcome.

Run as `python -m provisioner.review.action` with the action's inputs in `INPUT_*`
variables. It writes the step outputs to `$GITHUB_OUTPUT`, the plan (or apply's report) to
`$GITHUB_STEP_SUMMARY`, posts the plan on the pull request when asked, and exits 0 when the
command succeeded (a plan with changes included), else with the command's exit code.
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
from provisioner.review.context import (
    forge_from_env,
    github_event,
    is_fork_pull_request,
    pull_request_number,
)
from provisioner.review.post import post_plan
from provisioner.runner_log import for_runner_log

COMMANDS = ("validate", "plan", "apply")
COUNTS = ("create", "update", "replace", "delete")


@dataclass
class Inputs:
    command: str
    paths: list[str]
    environment: str
    comment: bool
    args: list[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        command = env.get("INPUT_COMMAND", "plan").strip() or "plan"
        if command not in COMMANDS:
            raise ProvisionerError(f"input command must be one of {', '.join(COMMANDS)}")
        return cls(
            command=command,
            paths=env.get("INPUT_PATHS", "").split(),
            environment=env.get("INPUT_ENV", "").strip(),
            comment=env.get("INPUT_COMMENT", "true").strip().lower() == "true",
            args=shlex.split(env.get("INPUT_ARGS", "")),
        )


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
    return EXIT_OK if result.exitcode in (EXIT_OK, EXIT_CHANGES) else result.exitcode


def run_step(inputs: Inputs, env: dict[str, str]) -> StepResult:
    child_env = {**env, **({"PROVISIONER_ENV": inputs.environment} if inputs.environment else {})}
    if inputs.command == "validate":
        code, _ = _provisioner(
            ["validate", "--format", "github", *inputs.paths, *inputs.args], child_env
        )
        return StepResult(code, {"exitcode": str(code), "has-changes": "false"})
    if inputs.command == "apply":
        command = ["apply", *inputs.paths, "--auto-approve", *inputs.args]
        code, out = _provisioner(command, child_env)
        summary = f"### provisioner apply\n\n```text\n{out}```\n" if out else ""
        return StepResult(code, {"exitcode": str(code), "has-changes": "false"}, summary)
    return _plan(inputs, child_env)


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


def _provisioner(args: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    """Run the CLI with this interpreter; its stdout is returned (and echoed), its stderr
    goes to the log as it comes."""
    shown = " ".join(shlex.quote(a) for a in args)
    _say(f"$ provisioner {shown}")
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
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
