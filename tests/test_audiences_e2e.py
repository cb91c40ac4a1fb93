"""Audiences by name, end to end through the CLI: over loopback HTTP against the served
emulator, and the promotion example's README against the embedded one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.platform.audiences import SEGMENTATION_PATH
from tests.workspace import SECRETS, Workspace, kinesis

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "promotion"
DEV = {
    "Men over 50": "17f89d3a-2720-5c75-9453-cb2b54e8d404",
    "Gold": "2718e07f-069c-5541-b6d5-599f0ac15c63",
}
PROD = {
    "Men over 50": "a388c647-97e9-59b5-b453-1796d8e0e422",
    "Gold": "774fa3c2-e62c-5cd6-a747-c19e22c0821e",
}
PROJECT = """project: promo
manifests: [manifests/]
environments:
  dev:
    sandbox: dev
    vars: {stream: orders-dev}
  prod:
    sandbox: prod
    vars: {stream: orders}
"""
BY_NAME = [{"name": "Men over 50"}, {"name": "Gold"}]


class Beyond:
    """Every request the emulator answered beyond IMS and the Audiences API."""

    def __init__(self, app: EmulatorApp) -> None:
        self.seen: list[tuple[str, str]] = []
        app.observers.append(self._observe)

    def _observe(self, number: int, method: str, path: str) -> None:
        if not path.startswith((SEGMENTATION_PATH, "/ims/")):
            self.seen.append((method, path))


def audience_lines(audiences: list[dict[str, str]]) -> str:
    lines = ["audiences:"]
    for audience in audiences:
        first, *rest = audience.items()
        lines.append(f"  - {first[0]}: {first[1]}")
        lines += [f"    {k}: {v}" for k, v in rest]
    return "\n".join(lines) + "\n"


def promo(workspace: Workspace, audiences: list[dict[str, str]]) -> None:
    """A project with dev and prod, seeded with the same names under different ids, and
    one manifest whose stream is a ${var:}."""
    (workspace.root / "provisioner.yaml").write_text(PROJECT, encoding="utf-8")
    for sandbox, ids in (("dev", DEV), ("prod", PROD)):
        workspace.emulator.seed_audiences(sandbox, [{"id": i, "name": n} for n, i in ids.items()])
    text = kinesis("orders", attributes=["person.lastName"]).replace(
        "stream: orders", "stream: ${var:stream}"
    )
    workspace.write("orders.yaml", text + audience_lines(audiences))


def live_audience_ids(workspace: Workspace, sandbox: str) -> set[str]:
    [flow] = workspace.resources("flows", sandbox)
    selectors = flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    return {s["value"]["id"] for s in selectors}


def test_one_set_of_manifests_applies_to_two_sandboxes(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    planned = workspace.run("plan", "--env", "dev", "--format", "json")
    assert planned.code == 0, planned.err
    [flow] = [c for c in planned.json["changes"] if c["type"] == "flow"]
    assert flow["audiences"]["add"] == sorted(DEV.values())
    assert flow["audience_names"] == {i: n for n, i in DEV.items()}
    for env, ids in (("dev", DEV), ("prod", PROD)):
        applied = workspace.run("apply", "--env", env, "--auto-approve")
        assert applied.code == 0, applied.err
        assert f"+ audience {ids['Men over 50']} Men over 50" in applied.out
        assert live_audience_ids(workspace, env) == set(ids.values())
        again = workspace.run("plan", "--env", env, "--detailed-exitcode")
        assert again.code == 0, again.out + again.err
    [target] = workspace.resources("targetConnections", "dev")
    assert target["params"]["stream"] == "orders-dev"


def test_apply_of_a_saved_plan_resolves_the_names_again(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    saved = workspace.run("plan", "--env", "prod", "--out", "plan.json")
    assert saved.code == 0, saved.err
    applied = workspace.run("apply", "--env", "prod", "--plan", "plan.json", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert live_audience_ids(workspace, "prod") == set(PROD.values())


@pytest.mark.parametrize(
    ("audiences", "expected"),
    [
        (
            [{"name": "Men over 50"}, {"name": "gold"}],
            ":16:11: error: no audience named 'gold' in sandbox 'prod'; similar names: 'Gold'"
            " (at audiences[1].name)",
        ),
        (
            [{"name": "Men over 50"}, {"id": DEV["Gold"]}],
            f":16:9: error: audience {DEV['Gold']} does not exist in sandbox 'prod'",
        ),
    ],
    ids=["unknown-name", "id-of-dev"],
)
def test_a_wrong_audience_stops_the_run_before_any_write(
    workspace: Workspace, audiences: list[dict[str, str]], expected: str
) -> None:
    promo(workspace, audiences)
    beyond = Beyond(workspace.emulator)
    result = workspace.run("apply", "--env", "prod", "--auto-approve")
    assert result.code == 1
    assert f"manifests/orders.yaml{expected}" in result.err
    assert "error: 1 problem(s) with the manifests' audiences in sandbox 'prod'" in result.err
    assert [seen for seen in beyond.seen if seen[0] != "GET"] == []  # nothing written
    assert workspace.resources("flows", "prod") == []
    assert workspace.resources("connections", "prod") == []


def test_an_ambiguous_name_is_an_error(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    workspace.emulator.seed_audiences(
        "prod", [{"id": "0d2c9a5e-1111-4aaa-8bbb-00000000000a", "name": "Gold"}]
    )
    result = workspace.run("plan", "--env", "prod")
    assert result.code == 1
    assert "audience name 'Gold' is ambiguous in sandbox 'prod': 2 active audiences" in result.err
    assert "0d2c9a5e-1111-4aaa-8bbb-00000000000a" in result.err and PROD["Gold"] in result.err


def test_a_missing_variable_stops_before_any_request(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    project = PROJECT.replace("    vars: {stream: orders}\n", "    vars: {}\n")
    (workspace.root / "provisioner.yaml").write_text(project, encoding="utf-8")
    workspace.emulator.requests.clear()
    result = workspace.run("plan", "--env", "prod")
    assert result.code == 1
    assert re.search(r"orders\.yaml:\d+:\d+: error: .*'stream'", result.err), result.err
    assert workspace.emulator.requests["total"] == 0


def test_a_sandbox_not_enabled_for_audiences(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    workspace.emulator.audiences.set_enabled("prod", False)
    by_name = workspace.run("plan", "--env", "prod")
    assert by_name.code == 1
    assert "audience 'Gold' cannot be looked up by name: the Audiences API answered 403" in (
        by_name.err
    )
    workspace.write("orders.yaml", kinesis("orders", audiences=[DEV["Gold"]]))
    by_id = workspace.run("plan", "--env", "prod", "--detailed-exitcode")
    assert by_id.code == 2, by_id.err
    assert "warning: audience ids were not checked: the Audiences API answered 403" in by_id.err


def test_import_writes_a_unique_name_and_an_ambiguous_one_by_id(workspace: Workspace) -> None:
    promo(workspace, BY_NAME)
    assert workspace.run("apply", "--env", "prod", "--auto-approve").code == 0
    imported = workspace.run("import", "--env", "prod", "--name", "orders")
    assert imported.code == 0, imported.err
    assert "  - name: Men over 50\n" in imported.out and "  - name: Gold\n" in imported.out
    assert PROD["Gold"] not in imported.out
    workspace.emulator.seed_audiences(
        "prod", [{"id": "0d2c9a5e-1111-4aaa-8bbb-00000000000a", "name": "Gold"}]
    )
    again = workspace.run("import", "--env", "prod", "--name", "orders")
    assert f"  - id: {PROD['Gold']}\n    name: Gold\n" in again.out
    assert "  - name: Men over 50\n" in again.out


def test_the_promotion_example_runs_as_its_readme_says(
    tmp_path: Path, workspace: Workspace
) -> None:
    """The README's steps, one by one, against the embedded emulator in the example's
    folder (a copy)."""
    folder = tmp_path / "promotion"
    shutil.copytree(EXAMPLE, folder)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    exports = [line for line in block.splitlines() if line.startswith("export ")]
    steps = [line.split("#", 1)[0].split() for line in block.splitlines()]
    steps = [s[1:] for s in steps if s and s[0] == "provisioner"]
    assert [s[0] for s in steps] == ["emulator", "validate"] + ["plan", "apply"] * 2 + ["plan"]
    runner = Workspace(folder, workspace.url, workspace.emulator)
    runner.env = {k: v for line in exports for k, v in (p.split("=", 1) for p in line.split()[1:])}
    outcomes = [runner.run(*step) for step in steps]
    assert [o.code for o in outcomes] == [0] * len(steps), [o.err for o in outcomes]
    dev_plan, prod_plan = outcomes[2].out, outcomes[4].out
    assert "+ audience 17f89d3a-2720-5c75-9453-cb2b54e8d404 Men over 50" in dev_plan
    assert "+ audience a388c647-97e9-59b5-b453-1796d8e0e422 Men over 50" in prod_plan
    assert "No changes." in outcomes[-1].out
    assert set(SECRETS).isdisjoint(runner.env)


def test_the_demo_seeds_the_example_audiences_and_runs_twice(tmp_path: Path) -> None:
    """scripts/demo (the README's quick start) in a copy of the repository: exit 0 twice in
    a row, the example audiences seeded into the embedded emulator before apply."""
    repository = EXAMPLE.parent.parent
    for folder in ("examples", "scripts"):
        shutil.copytree(repository / folder, tmp_path / folder)
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "PROVISIONER_"))
    }
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)  # scripts/setup uses it
    environment.pop("CI", None)
    for run in (1, 2):
        done = subprocess.run(
            [str(tmp_path / "scripts" / "demo")],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"run {run}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
        assert "sandbox prod: 66 audience(s) seeded" in done.stdout
        assert "No changes. The platform matches the manifests" in done.stdout
    listed = subprocess.run(
        ["provisioner", "emulator", "audiences", "list", "--sandbox", "prod"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02  active     Men over 50" in listed.stdout
