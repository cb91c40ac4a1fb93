"""The pre-commit hook and the GitLab template, installed and run as written, with the
package's source replaced by this checkout (the files a release archive of it would hold).

Both install with pip, which fetches the dependencies (and the build backend) from the
package index: these tests are marked `installs`. Everything else stays on loopback: the
template's release archive and constraints are served from here, GitLab's API is a fake,
and the platform is the emulator.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from provisioner import __version__
from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.server import serving as serving_emulator
from tests.forge_fakes import GITLAB_TOKEN, Environ, FakeGitLab, Reply, Seen, serving

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "examples/destinations/kinesis-summer-campaign.yaml"
BROKEN = ROOT / "tests/manifests/broken/bad-region.yaml"
SECRETS = {"KINESIS_ACCESS_KEY_ID": "AKIAEXAMPLE", "KINESIS_SECRET_KEY": "kinesis-canary-4f2a"}
RELEASE = f"v{__version__}"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def source_files() -> list[Path]:
    """This checkout's files as a commit of it would hold them (tracked or new, never
    ignored), changes not yet committed included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [Path(name) for name in sorted(set(listed.split("\0"))) if (ROOT / name).is_file()]


def clean_env(**extra: str) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AEP_", "GIT_", "PROVISIONER_", "VIRTUAL_ENV", "PYTHON"))
    }
    return {
        **kept,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        **extra,
    }


def git(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


# pre-commit --------------------------------------------------------------------------------


@pytest.mark.installs
def test_the_pre_commit_hook_checks_the_projects_manifests_on_every_commit(
    tmp_path: Path,
) -> None:
    """`pre-commit try-repo` installs the hook from a commit of this checkout (one install:
    later runs reuse it), in a repository that holds a workflow and a pre-commit
    configuration, which are never taken for manifests."""
    if shutil.which("git") is None:
        pytest.skip("pre-commit needs git, which is not installed")
    env = clean_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    hooks = tmp_path / "hooks"
    for name in source_files():
        (hooks / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, hooks / name)
    git(hooks, env, "init", "-q")
    git(hooks, env, "add", ".")
    git(hooks, env, "commit", "-q", "-m", "release")
    rev = git(hooks, env, "rev-parse", "HEAD")

    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "destinations").mkdir()
    shutil.copy(ROOT / "examples/ci/github-workflow.yml", repo / ".github/workflows/d.yml")
    shutil.copy(MANIFEST, repo / "destinations")
    config = f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n"
    (repo / ".pre-commit-config.yaml").write_text(
        config + "      - id: provisioner-validate\n", encoding="utf-8"
    )
    git(repo, env, "init", "-q")
    git(repo, env, "add", ".")

    def try_repo(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks)]
        return subprocess.run(
            [*command, "provisioner-validate", "--ref", rev, *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    passed = try_repo("--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"provisioner validate\.+Passed", passed.stdout), passed.stdout
    git(repo, env, "commit", "-q", "-m", "manifests")

    # A broken manifest already committed fails a commit that touches only the workflow.
    shutil.copy(BROKEN, repo / "destinations")
    git(repo, env, "add", ".")
    git(repo, env, "commit", "-q", "-m", "unchecked", "--no-verify")
    with open(repo / ".github/workflows/d.yml", "a", encoding="utf-8") as workflow:
        workflow.write("# a comment\n")
    git(repo, env, "add", ".github")
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"provisioner validate\.+Failed", failed.stdout), failed.stdout
    assert "destinations/bad-region.yaml:5:11: error: " in failed.stdout, failed.stdout
    # Both manifests reached one run, so checks across files hold.
    assert "1 manifest(s) in 2 file(s): 1 error(s)" in failed.stdout, failed.stdout

    # The project file names the manifests: those, and only those, are checked.
    (repo / "aep").mkdir()
    shutil.copy(MANIFEST, repo / "aep")
    (repo / "provisioner.yaml").write_text("manifests: [aep/]\n", encoding="utf-8")
    git(repo, env, "add", ".")
    scoped = try_repo()
    assert scoped.returncode == 0, scoped.stdout + scoped.stderr


# GitLab ------------------------------------------------------------------------------------

MERGED_SHA, REVIEWED_SHA = "c" * 40, "d" * 40


class GitLabWithReleases(FakeGitLab):
    """GitLab's API for the plan note and the merged plan, and beside it the two files of
    a release the template downloads: its source archive and its constraints.txt."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {
            f"/OWNER/provisioner/archive/refs/tags/{RELEASE}.tar.gz": release_archive(),
            f"/raw/OWNER/provisioner/{RELEASE}/constraints.txt": (
                ROOT / "constraints.txt"
            ).read_bytes(),
        }
        self.merged: list[dict[str, Any]] = []
        self.plan_artifact = b""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if path in self.files or path.endswith("/artifacts/plan.json"):
            data = self.files.get(path, self.plan_artifact)
            start_response("200 OK", [("Content-Length", str(len(data)))])
            return [data]
        return super().__call__(environ, start_response)

    def route(self, seen: Seen, environ: Environ) -> Reply:
        if environ.get("HTTP_PRIVATE_TOKEN") != GITLAB_TOKEN:
            return Reply(401, {"message": "401 Unauthorized"})
        project = "/api/v4/projects/42/"
        if seen.path == f"{project}repository/commits/{MERGED_SHA}/merge_requests":
            return Reply(200, self.merged)
        if seen.path == f"{project}merge_requests/12/pipelines":
            newer = {"id": 8, "sha": REVIEWED_SHA, "status": "failed"}
            older = {"id": 7, "sha": "e" * 40, "status": "success"}  # an earlier push
            return Reply(200, [newer, {"id": 6, "sha": REVIEWED_SHA, "status": "success"}, older])
        if seen.path == f"{project}pipelines/6/jobs":
            return Reply(200, [{"id": 90, "name": "validate"}, {"id": 91, "name": "plan"}])
        return super().route(seen, environ)


def release_archive() -> bytes:
    """What GitHub serves for a tag: the commit's files under `provisioner-VERSION/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in source_files():
            archive.add(ROOT / name, f"provisioner-{__version__}/{name}", recursive=False)
    return buffer.getvalue()


class GitLabJobs:
    """Runs the template's jobs as a GitLab runner on python:3.11-slim would: the pipeline's
    variables, then the job's (expanded), then before_script and script in one bash."""

    def __init__(self, tmp_path: Path, gitlab_url: str, platform_url: str) -> None:
        self.spec: dict[str, Any] = YAML(typ="safe").load(
            (ROOT / "examples/ci/.gitlab-ci.yml").read_text(encoding="utf-8")
        )
        self.venv = tmp_path / "opt-provisioner"  # /opt is not ours to write here
        self.tmp_path = tmp_path
        variables = {k: str(v) for k, v in self.spec["variables"].items()}
        variables |= {
            "TOOL_URL": f"{gitlab_url}/OWNER/provisioner",
            "TOOL_FILES": f"{gitlab_url}/raw/OWNER/provisioner",
        }
        self.env = clean_env(
            **variables,
            **SECRETS,
            CI="true",
            GITLAB_CI="true",
            CI_API_V4_URL=f"{gitlab_url}/api/v4",
            CI_PROJECT_ID="42",
            GITLAB_TOKEN=GITLAB_TOKEN,
            AEP_ORG_ID=DEFAULT_ORG,
            AEP_IMS_URL=platform_url,
            AEP_PLATFORM_URL=platform_url,  # the operator's, in the runner's settings
            AEP_CLIENT_ID=DEFAULT_CLIENT_ID,
            AEP_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
            AEP_READONLY_CLIENT_ID=DEFAULT_CLIENT_ID,
            AEP_READONLY_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
            PROVISIONER_FINGERPRINT_KEY="fingerprint-key-of-the-project-81c3",
            HOME=str(tmp_path / "home"),
        )
        self.installed = False

    def checkout(self, name: str) -> Path:
        folder = self.tmp_path / name
        (folder / "destinations").mkdir(parents=True)
        shutil.copy(MANIFEST, folder / "destinations")
        return folder

    def run(self, job: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
        spec = self.spec[job]
        variables = self.spec.get(spec.get("extends", ""), {}).get("variables", {})
        job_env = {**self.env, **{k: self._expand(str(v)) for k, v in variables.items()}, **env}
        before = [line.replace("/opt/provisioner", str(self.venv)) for line in self._before()]
        script = "\n".join([*before, *spec["script"]])
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=folder,
            env=job_env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def _before(self) -> list[str]:
        """The whole before_script once; later jobs reuse what it installed (a runner
        installs in each job: the same lines, at the cost of a minute each)."""
        lines = [str(line) for line in self.spec["default"]["before_script"]]
        if self.installed:
            return [line for line in lines if line.startswith("export ")]
        self.installed = True
        return lines

    def _expand(self, value: str) -> str:
        return re.sub(r"\$(\w+)", lambda m: self.env.get(m.group(1), ""), value)


@pytest.fixture
def platform() -> Iterator[tuple[EmulatorApp, str]]:
    app = EmulatorApp()
    with serving_emulator(app) as url:
        yield app, url


@pytest.mark.installs
def test_the_gitlab_template_installs_and_runs_as_written(
    tmp_path: Path, platform: tuple[EmulatorApp, str]
) -> None:
    """Validate, plan (note, widget), the merge's apply of the reviewed plan, and the
    scheduled drift and status jobs, in that order, against the emulator."""
    app, url = platform
    gitlab = GitLabWithReleases()
    with serving(gitlab) as gitlab_url:
        jobs = GitLabJobs(tmp_path, gitlab_url, url)
        review = jobs.checkout("merge-request")
        merge_request = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "12"}
        validated = jobs.run("validate", review, **merge_request)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        assert (jobs.venv / "bin" / "provisioner").exists()

        planned = jobs.run("plan", review, **merge_request)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert "Plan: " in planned.stdout
        assert json.loads((review / "report.json").read_text())["create"] >= 1
        shown = (review / "plan.md").read_text(encoding="utf-8")
        assert [note["body"] for note in gitlab.notes[12]] == [shown]
        gitlab.plan_artifact = (review / "plan.json").read_bytes()

        merged = jobs.checkout("default-branch")
        push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": MERGED_SHA}
        nothing = jobs.run("apply", merged, **push)
        assert nothing.returncode == 1  # no merge request merged this commit
        assert f"{MERGED_SHA} merged no merge request" in nothing.stderr
        assert not app.store.entries("flows", "prod")

        gitlab.merged = [{"iid": 12, "sha": REVIEWED_SHA, "state": "merged"}]
        # No run comes within a second: applied, then the wait ends the job with exit 2.
        applied = jobs.run("apply", merged, WAIT_HEALTHY="1s", **push)
        assert applied.returncode == 2, applied.stdout + applied.stderr
        assert "timed out after 1s" in applied.stdout + applied.stderr
        assert (merged / "plan.json").read_bytes() == gitlab.plan_artifact
        assert [flow["name"] for _, flow in app.store.entries("flows", "prod")] == [
            "summer-campaign-kinesis"
        ]

        schedule = {"CI_PIPELINE_SOURCE": "schedule"}
        drift = jobs.run("drift", jobs.checkout("scheduled"), **schedule)
        assert drift.returncode == 0, drift.stdout + drift.stderr
        app.advance(hours=1)
        status = jobs.run("status", jobs.checkout("hourly"), **schedule)
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(r"ok +summer-campaign-kinesis +enabled +in step", status.stdout)
        for secret in SECRETS.values():
            assert secret not in planned.stdout + applied.stdout + status.stdout
