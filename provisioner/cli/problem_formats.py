"""`validate`'s problems for CI systems: GitHub workflow commands and SARIF 2.1.0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from provisioner import __version__

if TYPE_CHECKING:  # the manifest package is not needed to start the CLI (`validate --help`)
    from provisioner.manifest.problems import Problem

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# One rule per severity: the message says what is wrong, the rule what kind of finding it is.
RULES = {
    "error": {
        "id": "invalid-manifest",
        "name": "InvalidManifest",
        "shortDescription": {"text": "A manifest is invalid; plan and apply refuse it."},
        "defaultConfiguration": {"level": "error"},
    },
    "warning": {
        "id": "manifest-warning",
        "name": "ManifestWarning",
        "shortDescription": {
            "text": "A manifest or the project file is valid but likely not what was meant."
        },
        "defaultConfiguration": {"level": "warning"},
    },
}


def github_annotations(problems: Sequence[Problem]) -> list[str]:
    """One `::error` or `::warning` workflow command per problem, escaped as the runner
    expects, so each shows on the file's line in the pull request."""
    return [_workflow_command(problem) for problem in problems]


def _workflow_command(problem: Problem) -> str:
    where = problem.location
    properties = [("file", where.file)]
    if where.line > 0:
        properties.append(("line", str(where.line)))
        if where.column > 0:
            properties.append(("col", str(where.column)))
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties)
    text = f"{problem.message} (at {problem.path})" if problem.path else problem.message
    return f"::{problem.severity} {listed}::{_escape_data(text)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def sarif_log(problems: Sequence[Problem], base: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one run: file URIs relative to `base` (the working directory)
    where they can be, so code-scanning services place them in the repository."""
    rule_ids = list(RULES)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "provisioner",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [RULES[severity] for severity in rule_ids],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [
                    _sarif_result(p, rule_ids.index(p.severity), base or Path.cwd())
                    for p in problems
                ],
            }
        ],
    }


def _sarif_result(problem: Problem, rule_index: int, base: Path) -> dict[str, Any]:
    where = problem.location
    location: dict[str, Any] = {"artifactLocation": _artifact(where.file, base)}
    if where.line > 0:
        region = {"startLine": where.line}
        if where.column > 0:
            region["startColumn"] = where.column
        location["region"] = region
    text = f"{problem.message} (at {problem.path})" if problem.path else problem.message
    result: dict[str, Any] = {
        "ruleId": RULES[problem.severity]["id"],
        "ruleIndex": rule_index,
        "level": problem.severity,
        "message": {"text": text},
        "locations": [{"physicalLocation": location}],
    }
    if problem.path:
        result["properties"] = {"fieldPath": problem.path}
    return result


def _artifact(file: str, base: Path) -> dict[str, str]:
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(base.resolve())
        except ValueError:
            return {"uri": path.as_uri()}
    return {"uri": quote(PurePath(path).as_posix()), "uriBaseId": "%SRCROOT%"}
