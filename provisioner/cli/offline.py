"""Commands that need no platform: validate and schema.

The manifests' models (pydantic) and the YAML parser are imported when a command runs:
their `--help` loads only click.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provisioner.cli.group import cli
from provisioner.cli.problem_formats import github_annotations, sarif_log
from provisioner.errors import (
    EXIT_OK,
    EXIT_USER_ERROR,
)

if TYPE_CHECKING:
    from provisioner.manifest.load import LoadResult
    from provisioner.manifest.problems import Problem
    from provisioner.manifest.project import Project

DEFAULT_MANIFESTS = Path("destinations")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github", "sarif"]),
    default="text",
    show_default=True,
    help="text for people, json for machines, github for workflow annotations, sarif for "
    "code scanning (SARIF 2.1.0).",
)
@click.option(
    "--resolve-secrets",
    "check_secrets",
    is_flag=True,
    help="Also resolve every ${env:…} and ${file:…} reference (values are never shown).",
)
def validate(paths: tuple[Path, ...], output_format: str, check_secrets: bool) -> None:
    """Check manifests offline: YAML, schema, and checks across manifests.

    PATHS are manifest files or directories (searched recursively); without them, the
    `manifests` of the project file (provisioner.yaml, in this directory or a parent), or
    else destinations/ when it exists.
    With a project file, every environment must define every ${var:…} the manifests use,
    and two environments naming the same sandbox and platform URL give a warning.
    Every problem of every file is reported at once as FILE:LINE:COL: error: MESSAGE (at
    field.path). Exits 0 when all manifests are valid (warnings allowed), 1 otherwise.
    """
    from provisioner.manifest import resolve_secrets
    from provisioner.manifest.project import check_environments, shared_sandboxes

    project, project_problems = _project_of(Path.cwd())
    paths = paths or _default_paths(project)
    if not paths and not project_problems:
        raise click.UsageError(
            "give manifest PATHS, or list `manifests` in provisioner.yaml "
            f"(default: {DEFAULT_MANIFESTS}/, when it exists)"
        )
    result = load_and_check(paths)
    project_warnings = shared_sandboxes(project) if project is not None else []
    result.problems[:0] = [*project_problems, *project_warnings]
    if not project_problems:  # an invalid project file says nothing of its variables
        result.problems.extend(check_environments(project, result.manifests))
    if check_secrets and not result.errors:
        result.problems.extend(resolve_secrets(result.manifests))
    if output_format == "json":
        click.echo(json.dumps(_validation_json(result), indent=2))
    elif output_format == "github":
        for line in github_annotations(result.problems):
            click.echo(line)
    elif output_format == "sarif":
        click.echo(json.dumps(sarif_log(result.problems), indent=2))
    else:
        _echo_validation_text(result)
    click.get_current_context().exit(EXIT_USER_ERROR if result.errors else EXIT_OK)


def load_and_check(paths: Iterable[str | Path]) -> LoadResult:
    """The manifests of `paths`, loaded and checked offline, as `validate` reports them."""
    from provisioner.manifest import load_and_check as load_and_check_manifests

    return load_and_check_manifests(paths)


def _default_paths(project: Project | None) -> tuple[Path, ...]:
    """The project file's `manifests`; without any, `destinations/` beside the project file
    (or here) when there is one. The pre-commit hook runs `validate` without paths, so that
    every manifest is checked whole, whichever files a commit touches."""
    if project is not None and project.manifests:
        return tuple(project.manifest_paths())
    default = project.root / DEFAULT_MANIFESTS if project is not None else DEFAULT_MANIFESTS
    return (default,) if default.is_dir() else ()


def _project_of(directory: Path) -> tuple[Project | None, list[Problem]]:
    from provisioner.manifest.project import ProjectError, find_project

    try:
        return find_project(directory), []
    except ProjectError as error:
        return None, error.problems


def _validation_json(result: LoadResult) -> dict[str, Any]:
    return {
        "valid": not result.errors,
        "files": [str(f) for f in result.files],
        "manifests": [
            {"name": m.manifest.name, "file": str(m.file), "document": m.document}
            for m in result.manifests
        ],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "problems": [p.as_json() for p in result.problems],
    }


def _echo_validation_text(result: LoadResult) -> None:
    from provisioner.render.safe import for_terminal

    for problem in result.problems:
        click.echo(for_terminal(problem.format()), err=problem.severity == "error")
    summary = (
        f"{len(result.manifests)} manifest(s) in {len(result.files)} file(s): "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    click.echo(summary, err=bool(result.errors))


@cli.command()
@click.option(
    "--plan",
    "of_plan",
    is_flag=True,
    help="The JSON plan's schema instead (schemas/plan.schema.json).",
)
@click.option(
    "--project",
    "of_project",
    is_flag=True,
    help="The project file's schema instead (schemas/project.schema.json).",
)
@click.option(
    "--status",
    "of_status",
    is_flag=True,
    help="The JSON status's schema instead (schemas/status.schema.json).",
)
@click.option(
    "--apply",
    "of_apply",
    is_flag=True,
    help="The schema of `apply --format json` instead (schemas/apply.schema.json).",
)
def schema(of_plan: bool, of_project: bool, of_status: bool, of_apply: bool) -> None:
    """Print the manifest's JSON Schema (the same as schemas/manifest.schema.json)."""
    if of_plan + of_project + of_status + of_apply > 1:
        raise click.UsageError("choose one of --plan, --project, --status and --apply")
    if of_apply:
        text = apply_schema_text()
    elif of_plan:
        text = plan_schema_text()
    elif of_project:
        text = project_schema_text()
    elif of_status:
        text = status_schema_text()
    else:
        text = schema_text()
    click.echo(text, nl=False)


def schema_text() -> str:
    from provisioner.manifest import manifest_json_schema

    return json.dumps(manifest_json_schema(), indent=2) + "\n"


def plan_schema_text() -> str:
    from provisioner.plan.model import plan_json_schema

    return json.dumps(plan_json_schema(), indent=2) + "\n"


def apply_schema_text() -> str:
    from provisioner.render.applied import apply_json_schema

    return json.dumps(apply_json_schema(), indent=2) + "\n"


def status_schema_text() -> str:
    from provisioner.health.model import status_json_schema

    return json.dumps(status_json_schema(), indent=2) + "\n"


def project_schema_text() -> str:
    from provisioner.manifest.project import project_json_schema

    return json.dumps(project_json_schema(), indent=2) + "\n"
