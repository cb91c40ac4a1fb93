"""`provisioner comment`: the Markdown plan as the pull or merge request's comment.

The forges' client (httpx) is imported when the command runs: its `--help` loads only click.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from provisioner.cli.group import cli
from provisioner.errors import ProvisionerError

if TYPE_CHECKING:
    from provisioner.review.context import ForgeName

MAX_PLAN_BYTES = 1024 * 1024  # forges cap comments near 64 KiB (GitHub) and 1 MB (GitLab)


@cli.command()
@click.argument(
    "plan_file", metavar="PLAN.md", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--forge",
    type=click.Choice(["github", "gitlab"]),
    help="Where the job runs (default: detected from the CI's variables).",
)
def comment(plan_file: Path, forge: str | None) -> None:
    """Post PLAN.md (from `plan --format markdown`) on the pull or merge request.

    Updates the comment posted before for the same target when the text differs, writes
    nothing when it is the same, and posts nothing new for a plan without changes. Only a
    comment that the token's own identity wrote and that opens with the plan's marker is
    ever edited; when the forge does not say whose the token is, none is.

    GitHub Actions: GITHUB_TOKEN (with pull-requests: write), GITHUB_REPOSITORY,
    GITHUB_EVENT_PATH, GITHUB_API_URL. GitLab CI: GITLAB_TOKEN (a project access token
    with the api scope: CI_JOB_TOKEN cannot post notes), CI_API_V4_URL, CI_PROJECT_ID,
    CI_MERGE_REQUEST_IID.
    """
    from provisioner.review.context import forge_from_env
    from provisioner.review.post import MissingMarker, post_plan

    text = _read_plan(plan_file)
    target = forge_from_env(os.environ, cast("ForgeName | None", forge))
    try:
        outcome = post_plan(target, text)
    except MissingMarker as error:
        raise ProvisionerError(f"{plan_file}: {error}") from None
    finally:
        target.close()
    click.echo(outcome.describe(target.where))


def _read_plan(path: Path) -> str:
    if path.stat().st_size > MAX_PLAN_BYTES:
        raise ProvisionerError(f"{path} is over 1 MiB: not a plan comment")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProvisionerError(f"cannot read {path}: {error}") from None
