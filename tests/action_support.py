"""The GitHub Action's steps run under bash as the runner would, for the tests of the action
(`test_action.py`, `test_action_commands.py`).

The steps after the install run against an installed copy of the tool: a virtual
environment outside the job's folder holding this checkout's package, as the install step
leaves one (that step needs the package index, so the test marked `installs` runs it for
real). A `sitecustomize.py` placed in that environment (never in the checkout) records
which Python processes ran and whether they saw a forge token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.forge_fakes import GITHUB_TOKEN
from tests.workspace import SECRETS, kinesis

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
VENV = "provisioner-venv"  # the install step's folder under RUNNER_TEMP
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]  # as `shell: bash` runs
FINGERPRINT_KEY = "fingerprint-key-of-the-job-2a9d"
PINNED = re.compile(r"[\w-]+/[\w.-]+@[0-9a-f]{40}")
ID_TOKEN = "oidc-request-token-canary-3c1f"
# Records, for each Python process of the installed environment, its arguments and whether
# the forge and runner tokens were in its environment.
# Written at exit: only then does sys.argv name the module that `-m` ran.
RECORDER = """\
import atexit, json, os, sys
log = os.environ.get("ACTION_TEST_PROCESS_LOG")
seen = {"token": "GITHUB_TOKEN" in os.environ,
        "id_token": "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in os.environ}

def record():
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps({"argv": sys.argv, **seen}) + "\\n")

if log:
    atexit.register(record)
"""


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "action.yml").read_text("utf-8"))
    return loaded


def install_step() -> dict[str, Any]:
    return next(s for s in action()["runs"]["steps"] if s["name"] == "Install provisioner")


def installed_copy(runner_temp: Path) -> Path:
    """What the install step leaves in RUNNER_TEMP, made without the package index: a
    virtual environment whose site-packages holds this checkout's package (its
    dependencies are this test run's own), and its `provisioner` console script."""
    venv = runner_temp / VENV
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    site_packages = Path(purelib)
    shutil.copytree(
        ROOT / "provisioner",
        site_packages / "provisioner",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # A plain path line: the dependencies, never this checkout's editable install hook.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (site_packages / "sitecustomize.py").write_text(RECORDER)
    script = venv / "bin" / "provisioner"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom provisioner.cli import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)
    return venv


@dataclass
class StepRun:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    processes: list[dict[str, Any]] = field(default_factory=list)

    def tool_runs(self) -> list[dict[str, Any]]:
        """The tool's own processes (validate, plan, apply), as the action started them."""
        return [p for p in self.processes if p["argv"][0].endswith("provisioner/__main__.py")]


class Runner:
    """Runs the action's steps after the install in a job folder: expressions filled in
    from the inputs and earlier steps' outputs, as the runner does, with the variables
    GitHub Actions sets; a step that fails ends the run, as in a composite action."""

    def __init__(self, root: Path, api_url: str, venv: Path) -> None:
        self.root = root
        self.api_url = api_url
        self.runner_temp = root.parent / f"{root.name}-runner-temp"
        self.runner_temp.mkdir()
        (self.runner_temp / VENV).symlink_to(venv)
        (root / "manifests").mkdir(parents=True)
        self.env: dict[str, str] = {}  # the job's own variables
        self.event_name = "pull_request"
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
        out, summary = self.root.parent / "output.txt", self.root.parent / "summary.md"
        processes = self.root.parent / "processes.jsonl"
        for path in (out, summary, processes):
            path.write_text("", encoding="utf-8")
        event_path = self.root.parent / "event.json"
        event_path.write_text(json.dumps(self.event), encoding="utf-8")
        job_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "GITHUB_"))},
            **SECRETS,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(self.root),
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": self.api_url,
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(self.runner_temp),
            "XDG_STATE_HOME": str(self.root.parent / "state"),
            "ACTION_TEST_PROCESS_LOG": str(processes),
            "PROVISIONER_FINGERPRINT_KEY": FINGERPRINT_KEY,
            **self.env,
        }
        code, log, outputs = 0, "", {}
        for step in spec["runs"]["steps"][2:]:  # after setup-python and the install
            step_env = {k: self._fill(v, values) for k, v in step.get("env", {}).items()}
            done = subprocess.run(
                [*BASH, step["run"]],
                cwd=self.root,
                env={**job_env, **step_env},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            code, log = done.returncode, log + done.stdout + done.stderr
            outputs = dict(
                line.split("=", 1) for line in out.read_text("utf-8").splitlines() if "=" in line
            )
            if "id" in step:
                values |= {f"steps.{step['id']}.outputs.{k}": v for k, v in outputs.items()}
            if code != 0:
                break
        seen = [json.loads(line) for line in processes.read_text("utf-8").splitlines()]
        return StepRun(code, log, outputs, summary.read_text("utf-8"), seen)

    @staticmethod
    def _fill(value: Any, values: dict[str, str]) -> str:
        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            # A step's output that was never set reads as empty, as on the runner.
            return values.get(name, "") if name.startswith("steps.") else values[name]

        return EXPRESSION.sub(lookup, str(value))


def write_orders(runner: Runner, audiences: list[str] | None = None) -> Path:
    manifest = runner.root / "manifests" / "orders.yaml"
    manifest.write_text(kinesis("orders", audiences or []), encoding="utf-8")
    return manifest
