"""action.yml, the example pipelines and the pre-commit hook, checked against their published
schemas (check-jsonschema's vendored copies: no network), against each other, and the shell
steps of the GitHub workflow run against a fake GitHub API on loopback.

Installing them for real (pre-commit try-repo, the GitLab template's jobs) is in
`test_pipeline_installs.py`."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from check_jsonschema.cli.main_command import main as check_jsonschema
from click.testing import CliRunner
from ruamel.yaml import YAML

from provisioner import __version__
from provisioner.cli.group import cli
from provisioner.review.action import COMMANDS
from tests.forge_fakes import Environ, FakeForge, Reply, Seen, serving

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ci"
WORKFLOW, STATUS_WORKFLOW = EXAMPLES / "github-workflow.yml", EXAMPLES / "github-status.yml"
GITLAB = EXAMPLES / ".gitlab-ci.yml"
OUTPUT_REFERENCE = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+)")
RELEASE = f"v{__version__}"


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.github-actions", ROOT / "action.yml"),
        ("vendor.github-workflows", WORKFLOW),
        ("vendor.github-workflows", STATUS_WORKFLOW),
        ("vendor.gitlab-ci", GITLAB),
    ],
)
def test_files_match_their_published_schemas(schema: str, path: Path) -> None:
    result = CliRunner().invoke(
        check_jsonschema, ["--builtin-schema", schema, "--disable-formats", "*", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "ok -- validation done" in result.output


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield name, step


def ours(step: dict[str, Any]) -> bool:
    return "OWNER/provisioner@" in step.get("uses", "")


@pytest.mark.parametrize("path", [WORKFLOW, STATUS_WORKFLOW])
def test_the_workflows_use_only_what_the_action_declares(path: Path) -> None:
    action = load(ROOT / "action.yml")
    inputs, outputs = set(action["inputs"]), set(action["outputs"])
    workflow = load(path)
    for name, step in steps(workflow):
        if ours(step):
            assert set(step.get("with", {})) <= inputs, step
            assert step["with"]["command"] in COMMANDS
        job_steps = {s["id"]: s for s in workflow["jobs"][name]["steps"] if "id" in s}
        for step_id, output in OUTPUT_REFERENCE.findall(str(step)):
            assert step_id in job_steps, (step_id, output)
            if ours(job_steps[step_id]):
                assert output in outputs, (step_id, output)


def test_the_examples_pin_this_release() -> None:
    """`@v0.2.0`, `rev: v0.2.0`, `TOOL_REF: v0.2.0`: the release this checkout is."""
    for path in (WORKFLOW, STATUS_WORKFLOW, ROOT / "README.md", ROOT / "docs" / "pipelines.md"):
        refs = re.findall(r"uses: OWNER/provisioner@(\S+)", path.read_text(encoding="utf-8"))
        assert refs and set(refs) == {RELEASE}, (path, refs)
    assert load(GITLAB)["variables"]["TOOL_REF"] == RELEASE
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert f"#     rev: {RELEASE}\n" in hooks
    pipelines = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    assert f"    rev: {RELEASE}\n" in pipelines
    assert set(re.findall(r"TOOL_REF: (\S+)", pipelines)) == {RELEASE}


PINNED = re.compile(r"[\w-]+/[\w.-]+@[0-9a-f]{40}")
READ_AS_DATA = {
    "ref": "${{ github.event.pull_request.head.sha }}",
    "persist-credentials": False,
}


@pytest.mark.parametrize("path", [ROOT / "action.yml", WORKFLOW, STATUS_WORKFLOW])
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
    workflow = load(WORKFLOW)
    assert "pull_request_target" in workflow["on"] and "pull_request" not in workflow["on"]
    jobs = workflow["jobs"]
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request_target'"
    [checkout] = [s for s in jobs["plan"]["steps"] if "actions/checkout@" in s.get("uses", "")]
    assert READ_AS_DATA.items() <= checkout["with"].items()
    for _, step in [*steps(workflow), *steps(load(STATUS_WORKFLOW))]:
        if "actions/checkout@" in step.get("uses", ""):
            assert step["with"]["persist-credentials"] is False
        if ours(step):
            args = str(step.get("with", {}).get("args", ""))
            assert "--platform-url" not in args and "--emulator" not in args
    readonly = "${{ secrets.AEP_READONLY_CLIENT_SECRET }}"
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"  # the comment
    assert jobs["plan"]["env"]["AEP_CLIENT_SECRET"] == readonly
    assert jobs["drift"]["env"]["AEP_CLIENT_SECRET"] == readonly
    assert load(STATUS_WORKFLOW)["jobs"]["status"]["env"]["AEP_CLIENT_SECRET"] == readonly
    assert jobs["apply"]["env"]["AEP_CLIENT_SECRET"] != readonly
    assert "AEP_CLIENT_SECRET" not in workflow["env"]
    assert workflow["env"]["PROVISIONER_ALLOW_ENV"] == "KINESIS_ACCESS_KEY_ID,KINESIS_SECRET_KEY"
    assert "PROVISIONER_FINGERPRINT_KEY" in workflow["env"]
    assert "PROVISIONER_PLAN_KEY" in workflow["env"]


def test_the_apply_job_applies_the_plan_that_was_reviewed() -> None:
    """The plan job keeps its plan under the pull request's head commit; the merge's apply
    job downloads exactly that one and applies it with --plan, never a plan of its own."""
    jobs = load(WORKFLOW)["jobs"]
    [kept] = [s for s in jobs["plan"]["steps"] if "upload-artifact@" in s.get("uses", "")]
    assert kept["with"]["name"] == "plan-${{ github.event.pull_request.head.sha }}"
    assert kept["with"]["path"] == "${{ steps.plan.outputs.plan-file }}"
    apply_steps = jobs["apply"]["steps"]
    assert not any(ours(s) and s["with"]["command"] == "plan" for s in apply_steps)
    [download] = [s for s in apply_steps if "download-artifact@" in s.get("uses", "")]
    assert download["with"] == {
        "name": "${{ steps.reviewed.outputs.name }}",
        "run-id": "${{ steps.reviewed.outputs.run-id }}",
        "github-token": "${{ github.token }}",
        "path": "${{ runner.temp }}/reviewed",
    }
    [applied] = [s for s in apply_steps if ours(s)]
    assert applied["with"]["command"] == "apply"
    assert applied["with"]["args"] == "--plan ${{ runner.temp }}/reviewed/plan.json"
    assert applied["with"]["wait-healthy"] is True
    assert jobs["apply"]["permissions"]["actions"] == "read"
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False


def test_the_status_workflow_runs_status_on_a_schedule() -> None:
    workflow = load(STATUS_WORKFLOW)
    assert [list(c) for c in workflow["on"]["schedule"]] == [["cron"]]
    [status] = [s for _, s in steps(workflow) if ours(s)]
    assert status["with"]["command"] == "status"
    # Exit 2 (unhealthy) fails the action's step, so the scheduled run fails: nothing after
    # it may swallow that.
    assert "continue-on-error" not in status
    job = workflow["jobs"]["status"]
    assert not any(k.startswith("KINESIS") for k in job["env"]), "status needs no secrets"


# the apply job's search for the reviewed plan, against a fake GitHub API ------------------

TOKEN = "ghs_apply_job_token_5e1d"
MERGED, HEAD = "a" * 40, "b" * 40
THIS_WORKFLOW, OTHER_WORKFLOW = 161, 999


class FakeActions(FakeForge):
    """The REST endpoints the apply job reads: a merged pull request, artifacts, runs."""

    def __init__(self) -> None:
        super().__init__()
        self.pulls: list[dict[str, Any]] = [{"merged_at": "2026-01-01T00:00:00Z", "head": {}}]
        self.pulls[0]["head"]["sha"] = HEAD
        self.artifacts: list[dict[str, Any]] = []
        self.runs = {1: {"workflow_id": THIS_WORKFLOW, "event": "push"}}

    def upload(self, run: int, workflow: int, event: str, expired: bool = False) -> None:
        self.runs[run] = {"workflow_id": workflow, "event": event}
        self.artifacts.append({"expired": expired, "workflow_run": {"id": run}})

    def route(self, seen: Seen, environ: Environ) -> Reply:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        base = "/repos/octo/repo/"
        if seen.path == f"{base}commits/{MERGED}/pulls":
            return Reply(200, self.pulls)
        if seen.path == f"{base}actions/artifacts":
            named = seen.query.get("name") == [f"plan-{HEAD}"]
            return Reply(200, {"artifacts": self.artifacts if named else []})
        run = re.fullmatch(rf"{base}actions/runs/(\d+)", seen.path)
        if run and int(run.group(1)) in self.runs:
            return Reply(200, self.runs[int(run.group(1))])
        return Reply(404, {"message": "Not Found"})


def find_the_reviewed_plan(fake: FakeActions, tmp_path: Path) -> tuple[int, str, str]:
    [step] = [s for s in load(WORKFLOW)["jobs"]["apply"]["steps"] if s.get("id") == "reviewed"]
    output = tmp_path / "output"
    output.write_text("", encoding="utf-8")
    with serving(fake) as url:
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            env={
                "PATH": os.environ["PATH"],
                "GH_TOKEN": TOKEN,
                "GITHUB_API_URL": url,
                "GITHUB_REPOSITORY": "octo/repo",
                "GITHUB_SHA": MERGED,
                "GITHUB_RUN_ID": "1",
                "GITHUB_OUTPUT": str(output),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    return done.returncode, done.stdout + done.stderr, output.read_text(encoding="utf-8")


def test_the_apply_job_finds_the_plan_of_the_merged_pull_request(tmp_path: Path) -> None:
    fake = FakeActions()
    fake.upload(7, OTHER_WORKFLOW, "pull_request")  # anyone's workflow may use the name
    fake.upload(8, THIS_WORKFLOW, "pull_request_target", expired=True)
    fake.upload(9, THIS_WORKFLOW, "pull_request_target")
    code, log, outputs = find_the_reviewed_plan(fake, tmp_path)
    assert code == 0, log
    assert outputs == f"name=plan-{HEAD}\nrun-id=9\n"


def test_only_this_workflows_plan_job_can_provide_the_plan(tmp_path: Path) -> None:
    fake = FakeActions()
    fake.upload(7, OTHER_WORKFLOW, "pull_request_target")
    fake.upload(8, THIS_WORKFLOW, "pull_request")
    code, log, outputs = find_the_reviewed_plan(fake, tmp_path)
    assert code == 1 and outputs == ""
    assert f"::error::No plan of {HEAD}, the pull request's last commit" in log


def test_a_push_that_merged_no_pull_request_has_no_plan_to_apply(tmp_path: Path) -> None:
    fake = FakeActions()
    fake.pulls[0]["merged_at"] = None  # an open pull request that holds the commit
    fake.upload(9, THIS_WORKFLOW, "pull_request_target")
    code, log, outputs = find_the_reviewed_plan(fake, tmp_path)
    assert code == 1 and outputs == ""
    assert f"::error::{MERGED} merged no pull request" in log


# GitLab ------------------------------------------------------------------------------------


def test_the_gitlab_pipeline_reads_the_platform_once_and_shows_the_saved_plan() -> None:
    pipeline = load(GITLAB)
    plan = pipeline["plan"]["script"]
    assert [line for line in plan if line.startswith("provisioner plan")] == [
        "provisioner plan destinations --out plan.json"
    ]
    assert "provisioner show plan.json --format markdown > plan.md" in plan
    assert "provisioner show plan.json --format gitlab-report > report.json" in plan
    assert "provisioner comment plan.md" in plan
    assert pipeline["plan"]["artifacts"]["reports"]["terraform"] == "report.json"
    assert "plan.json" in pipeline["plan"]["artifacts"]["paths"]
    assert any("--detailed-exitcode" in line for line in pipeline["drift"]["script"])
    assert pipeline["apply"]["resource_group"] == pipeline["drift"]["resource_group"]


def test_the_gitlab_apply_applies_the_reviewed_plan_and_can_wait() -> None:
    pipeline = load(GITLAB)
    fetch, apply = pipeline["apply"]["script"]
    assert "merge_requests/{request['iid']}/pipelines" in fetch
    assert 'job["name"] == "plan"' in fetch
    assert apply == (
        "provisioner apply destinations --plan plan.json --auto-approve "
        "${WAIT_HEALTHY:+--wait-healthy=$WAIT_HEALTHY}"
    )
    assert pipeline["variables"]["WAIT_HEALTHY"] == "75m"
    status = pipeline["status"]
    assert status["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert status["script"][0].startswith("provisioner status destinations")


def test_the_gitlab_pipeline_keeps_the_checkout_as_data() -> None:
    pipeline = load(GITLAB)
    install = pipeline["default"]["before_script"]
    assert pipeline["default"]["image"] == "python:3.11-slim"
    assert install[0] == "python -P -m venv /opt/provisioner"
    assert install[1].startswith("/opt/provisioner/bin/pip install ")
    # A release archive, since the image has no git; the versions CI tested.
    assert '--constraint "$TOOL_FILES/$TOOL_REF/constraints.txt"' in install[1]
    assert '"provisioner @ $TOOL_URL/archive/refs/tags/$TOOL_REF.tar.gz"' in install[1]
    assert "git+" not in GITLAB.read_text(encoding="utf-8")
    assert pipeline["variables"]["PYTHONSAFEPATH"] == "1"
    assert "PROVISIONER_ALLOW_ENV" in pipeline["variables"]
    readonly = pipeline[".read-only"]["variables"]["AEP_CLIENT_SECRET"]
    assert readonly == "$AEP_READONLY_CLIENT_SECRET"
    for job in ("plan", "drift", "status"):
        assert pipeline[job]["extends"] == ".read-only"
    assert "extends" not in pipeline["apply"]


# pre-commit --------------------------------------------------------------------------------


def test_the_hook_checks_the_projects_manifests_whole() -> None:
    [hook] = load(ROOT / ".pre-commit-hooks.yaml")
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "provisioner-validate",
        "provisioner validate",
        "python",
    )
    assert hook["pass_filenames"] is False and hook["always_run"] is True
    assert "files" not in hook and "types" not in hook


VALID = (ROOT / "examples/destinations/kinesis-summer-campaign.yaml").read_text("utf-8")
BROKEN = (ROOT / "tests/manifests/broken/bad-region.yaml").read_text("utf-8")


def validate_in(folder: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(folder)
    return CliRunner().invoke(cli, ["validate"])


def test_validate_without_paths_reads_destinations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the hook runs: every manifest under destinations/, and no other YAML file."""
    files = {
        "destinations/ok.yaml": VALID,
        "destinations/nested/bad.yaml": BROKEN,
        ".github/workflows/destinations.yml": WORKFLOW.read_text("utf-8"),
        ".pre-commit-config.yaml": "repos: []\n",
        "other/bad.yaml": BROKEN,
    }
    result = validate_in(tmp_path, files, monkeypatch)
    assert result.exit_code == 1
    assert "destinations/nested/bad.yaml:5:11: error: " in result.output
    assert "other/" not in result.output and "workflows" not in result.output
    assert "1 manifest(s) in 2 file(s): 1 error(s)" in result.output


def test_validate_without_paths_reads_the_projects_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "provisioner.yaml": "manifests: [aep/]\n",
        "aep/ok.yaml": VALID,
        "destinations/bad.yaml": BROKEN,  # not the project's
    }
    result = validate_in(tmp_path, files, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "1 manifest(s) in 1 file(s): 0 error(s)" in result.output


def test_a_project_file_without_manifests_defaults_to_its_destinations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"provisioner.yaml": "project: shop\n", "destinations/bad.yaml": BROKEN}
    (tmp_path / "sub").mkdir()
    validate_in(tmp_path, files, monkeypatch)
    monkeypatch.chdir(tmp_path / "sub")  # from anywhere in the repository
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert f"{tmp_path.resolve()}/destinations/bad.yaml:5:11: error: " in result.output


def test_validate_without_paths_or_destinations_says_what_to_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = validate_in(tmp_path, {"manifests/ok.yaml": VALID}, monkeypatch)
    assert result.exit_code == 2
    assert "list `manifests` in provisioner.yaml (default: destinations/" in result.output


# the docs show the files as tested ---------------------------------------------------------


@pytest.mark.parametrize("path", [WORKFLOW, STATUS_WORKFLOW, GITLAB])
def test_the_docs_show_exactly_the_tested_pipeline_files(path: Path) -> None:
    shown = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") in shown
