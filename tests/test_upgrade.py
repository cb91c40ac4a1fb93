"""Upgrade: objects written by the previous release plan as no changes with this build
(contract section 6, "Objects written by the previous release plan as no changes after an
upgrade").

The previous release's package is taken from git (commit f59ad81) and run as its own
process against this build's emulator, served on loopback: it applies Kinesis and Event
Hubs dataflows, two of them on one shared account, one renamed with renamedFrom, and one
from another directory whose project file names a project. This build, in process, then
plans those same manifests: no changes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.workspace import AUDIENCES, Workspace, event_hubs, kinesis

A, B, C, D, E, F = AUDIENCES
REPO = Path(__file__).resolve().parent.parent
RELEASE = "f59ad81"  # the previous release
FLAVOURS = {"lenient": "workspace", "strict": "strict_workspace"}


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the previous release's `provisioner` package."""
    git = shutil.which("git")
    if git is None:
        pytest.skip(f"git is not installed: the previous release ({RELEASE}) cannot be read")
    found = subprocess.run(
        [git, "-C", str(REPO), "cat-file", "-e", f"{RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(f"commit {RELEASE} (the previous release) is not in this checkout")
    archive = subprocess.run(
        [git, "-C", str(REPO), "archive", RELEASE, "provisioner"],
        capture_output=True,
        check=True,
    )
    where = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(where, filter="data")
        else:  # Python before 3.11.4; the archive is git's own
            tar.extractall(where)
    assert (where / "provisioner" / "__main__.py").is_file()
    return where


@pytest.fixture(params=list(FLAVOURS))
def ws(request: pytest.FixtureRequest) -> Workspace:
    """A user's folder, against the lenient emulator and against the strict one."""
    workspace: Workspace = request.getfixturevalue(FLAVOURS[request.param])
    return workspace


def old_cli(ws: Workspace, release: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The previous release's `provisioner ARGS`, in its own process, with the environment
    a Workspace gives the CLI, in the workspace's folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AEP_") and k not in ("CI", "NO_COLOR")
    }
    env.update(ws.env)
    env["PYTHONPATH"] = str(release)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ws.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def old_applied(ws: Workspace, release: Path) -> None:
    done = old_cli(ws, release, "-m", "provisioner", "apply", "manifests", "--auto-approve")
    assert done.returncode == 0, f"the previous release's apply:\n{done.stdout}\n{done.stderr}"


def new_plan_is_empty(ws: Workspace, *args: str) -> None:
    outcome = ws.plan("--detailed-exitcode", *args)
    assert outcome.code == 0, f"exit {outcome.code}\n{outcome.out}\n{outcome.err}"
    assert "No changes." in outcome.out


def test_the_previous_release_is_what_runs(ws: Workspace, previous_release: Path) -> None:
    """The subprocess imports the extracted release, not this checkout."""
    done = old_cli(ws, previous_release, "-c", "import provisioner; print(provisioner.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(previous_release)


def test_objects_of_the_previous_release_plan_as_no_changes(
    ws: Workspace, previous_release: Path
) -> None:
    """Upgrade row: kinesis and event hubs dataflows, a shared account, a rename by
    renamedFrom and a named project, all written by the previous release, plan as no
    changes with this build (with --prune too), and an apply keeps them so."""
    team = Workspace(ws.root / "team", ws.url, ws.emulator)
    team.root.joinpath("provisioner.yaml").write_text("project: marketing\n", encoding="utf-8")
    team.write("promo.yaml", kinesis("promo", [A], ["person.lastName"], stream="promo"))
    ws.write("orders.yaml", kinesis("orders", [A, B], ["person.lastName"], account="shared"))
    ws.write("clicks.yaml", kinesis("clicks", [C], account="shared", stream="clicks"))
    ws.write("hub.yaml", event_hubs("hub", [D]))
    ws.write("legacy.yaml", kinesis("legacy-name", [E], account="legacy", stream="legacy"))
    old_applied(ws, previous_release)
    old_applied(team, previous_release)
    ws.write(
        "legacy.yaml",
        kinesis("renamed", [E], account="legacy", stream="legacy") + "renamedFrom: [legacy-name]\n",
    )
    legacy_id = ws.flow("legacy-name")["id"]
    old_applied(ws, previous_release)
    assert ws.flow("renamed")["id"] == legacy_id  # the previous release renamed it in place
    flows = {f["name"]: f["id"] for f in ws.resources("flows")}
    assert sorted(flows) == ["clicks", "hub", "orders", "promo", "renamed"]
    shared = {ws.flow(n)["targetConnectionIds"][0] for n in ("orders", "clicks")}
    accounts = {
        t["baseConnectionId"] for t in ws.resources("targetConnections") if t["id"] in shared
    }
    assert len(accounts) == 1  # one shared account

    for where in (ws, team):
        new_plan_is_empty(where)
        new_plan_is_empty(where, "--prune")
    for where in (ws, team):
        outcome = where.apply("--prune")
        assert outcome.code == 0, outcome.out + outcome.err
        new_plan_is_empty(where, "--prune")
    assert {f["name"]: f["id"] for f in ws.resources("flows")} == flows
