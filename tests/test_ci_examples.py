"""action.yml, the example pipelines and the pre-commit hook, checked against their published
schemas (check-jsonschema's vendored copies: no network) and against each other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from check_jsonschema.cli.main_command import main as check_jsonschema
from click.testing import CliRunner
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ci"
OUTPUT_REFERENCE = re.compile(r"steps\.(\w+)\.outputs\.([\w-]+)")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.github-actions", ROOT / "action.yml"),
        ("vendor.github-workflows", EXAMPLES / "github-workflow.yml"),
        ("vendor.gitlab-ci", EXAMPLES / ".gitlab-ci.yml"),
    ],
)
def test_files_match_their_published_schemas(schema: str, path: Path) -> None:
    result = CliRunner().invoke(
        check_jsonschema, ["--builtin-schema", schema, "--disable-formats", "*", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "ok -- validation done" in result.output


def test_the_workflow_uses_only_what_the_action_declares() -> None:
    action = load(ROOT / "action.yml")
    inputs, outputs = set(action["inputs"]), set(action["outputs"])
    workflow = load(EXAMPLES / "github-workflow.yml")
    uses = 0
    for job in workflow["jobs"].values():
        ours = {s["id"] for s in job["steps"] if "provisioner@" in s.get("uses", "") and "id" in s}
        for step in job["steps"]:
            if "provisioner@" in step.get("uses", ""):
                uses += 1
                assert set(step.get("with", {})) <= inputs, step
                assert step["with"]["command"] in ("validate", "plan", "apply")
            text = str(step)
            for step_id, output in OUTPUT_REFERENCE.findall(text):
                assert step_id in ours and output in outputs, (step_id, output)
    assert uses >= 5
    apply_job = workflow["jobs"]["apply"]
    assert apply_job["concurrency"]["cancel-in-progress"] is False
    assert "pull-requests" in workflow["jobs"]["plan"]["permissions"]


def test_the_gitlab_pipeline_feeds_the_terraform_widget() -> None:
    pipeline = load(EXAMPLES / ".gitlab-ci.yml")
    plan = pipeline["plan"]
    assert pipeline["plan"]["artifacts"]["reports"]["terraform"] == "plan.json"
    assert "provisioner plan destinations --format gitlab-report > plan.json" in plan["script"]
    assert "provisioner comment plan.md" in plan["script"]
    assert any("--detailed-exitcode" in line for line in pipeline["drift"]["script"])
    assert pipeline["apply"]["resource_group"] == pipeline["drift"]["resource_group"]


PINNED = re.compile(r"[\w-]+/[\w.-]+@[0-9a-f]{40}")
READ_AS_DATA = {
    "ref": "${{ github.event.pull_request.head.sha }}",
    "persist-credentials": False,
}


@pytest.mark.parametrize("path", [ROOT / "action.yml", EXAMPLES / "github-workflow.yml"])
def test_other_actions_are_pinned_by_commit(path: Path) -> None:
    """A tag can be moved to other code; a commit cannot. The comment names the release."""
    text = path.read_text(encoding="utf-8")
    used = re.findall(r"uses: (\S+)(.*)", text)
    others = [(ref, rest) for ref, rest in used if not ref.startswith("OWNER/")]
    assert others
    for ref, rest in others:
        assert PINNED.fullmatch(ref), ref
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", rest), (ref, rest)


def test_the_plan_job_reads_the_pull_request_as_data() -> None:
    """The deployment docs/safety.md describes: the base branch's workflow plans, with the
    pull request's files checked out without credentials and a client that only reads."""
    workflow = load(EXAMPLES / "github-workflow.yml")
    assert "pull_request_target" in workflow["on"] and "pull_request" not in workflow["on"]
    jobs = workflow["jobs"]
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request_target'"
    [checkout] = [s for s in jobs["plan"]["steps"] if "actions/checkout@" in s.get("uses", "")]
    assert READ_AS_DATA.items() <= checkout["with"].items()
    for job in jobs.values():
        for step in job["steps"]:
            if "actions/checkout@" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False
            if "provisioner@" in step.get("uses", ""):
                args = str(step.get("with", {}).get("args", ""))
                assert "--platform-url" not in args and "--emulator" not in args
    readonly = "${{ secrets.AEP_READONLY_CLIENT_SECRET }}"
    assert jobs["plan"]["env"]["AEP_CLIENT_SECRET"] == readonly
    assert jobs["drift"]["env"]["AEP_CLIENT_SECRET"] == readonly
    assert jobs["apply"]["env"]["AEP_CLIENT_SECRET"] != readonly
    assert "AEP_CLIENT_SECRET" not in workflow["env"]
    assert workflow["env"]["PROVISIONER_ALLOW_ENV"] == "KINESIS_ACCESS_KEY_ID,KINESIS_SECRET_KEY"
    assert "PROVISIONER_FINGERPRINT_KEY" in workflow["env"]


def test_the_gitlab_pipeline_keeps_the_checkout_as_data() -> None:
    pipeline = load(EXAMPLES / ".gitlab-ci.yml")
    install = pipeline["default"]["before_script"]
    assert install[0] == "python -P -m venv /opt/provisioner"
    assert install[1].startswith("/opt/provisioner/bin/pip install ")
    assert "--constraint" in install[1] and "/$TOOL_REF/constraints.txt" in install[1]
    assert pipeline["variables"]["PYTHONSAFEPATH"] == "1"
    assert "PROVISIONER_ALLOW_ENV" in pipeline["variables"]
    readonly = pipeline[".read-only"]["variables"]["AEP_CLIENT_SECRET"]
    assert readonly == "$AEP_READONLY_CLIENT_SECRET"
    assert pipeline["plan"]["extends"] == pipeline["drift"]["extends"] == ".read-only"
    assert "extends" not in pipeline["apply"]


@pytest.mark.installs
def test_the_pre_commit_hook(tmp_path: Path) -> None:
    """`pre-commit try-repo` installs the hook from this checkout, as a user's would (one
    install: the slowest test of the suite, so one run checks both files)."""
    hooks = load(ROOT / ".pre-commit-hooks.yaml")
    assert [(h["id"], h["entry"], h["language"]) for h in hooks] == [
        ("provisioner-validate", "provisioner validate", "python")
    ]
    if shutil.which("git") is None:
        pytest.skip("pre-commit needs git, which is not installed")
    repo = tmp_path / "repo"
    (repo / "destinations").mkdir(parents=True)
    shutil.copy(ROOT / "examples/destinations/kinesis-summer-campaign.yaml", repo / "destinations")
    shutil.copy(ROOT / "tests/manifests/broken/bad-region.yaml", repo / "destinations")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "GIT_"))},
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    def try_repo() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT)]
        return subprocess.run(
            [*command, "provisioner-validate", "--all-files"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    git("init", "-q")
    git("add", ".")
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"provisioner validate\.+Failed", failed.stdout), failed.stdout
    assert "destinations/bad-region.yaml:5:11: error: " in failed.stdout, failed.stdout
    # Both files reached one run: the valid one was read and raised nothing.
    assert "1 manifest(s) in 2 file(s): 1 error(s)" in failed.stdout, failed.stdout


@pytest.mark.parametrize("name", ["github-workflow.yml", ".gitlab-ci.yml"])
def test_the_readme_shows_exactly_the_tested_pipeline_files(name: str) -> None:
    root = Path(__file__).resolve().parent.parent
    shown = (root / "README.md").read_text(encoding="utf-8")
    assert (root / "examples" / "ci" / name).read_text(encoding="utf-8") in shown
