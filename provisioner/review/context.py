"""Which pull or merge request the CI job runs for, from the variables the CI sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from provisioner.platform.target import check_url
from provisioner.review.forges import Forge, GitHub, GitLab, ReviewError

ForgeName = Literal["github", "gitlab"]
DEFAULT_GITHUB_API = "https://api.github.com"


def detect_forge(env: Mapping[str, str]) -> ForgeName:
    if env.get("GITHUB_ACTIONS") == "true" or env.get("GITHUB_EVENT_PATH"):
        return "github"
    if env.get("GITLAB_CI") or env.get("CI_API_V4_URL"):
        return "gitlab"
    raise ReviewError(
        "not running in GitHub Actions or GitLab CI (neither GITHUB_EVENT_PATH nor "
        "CI_API_V4_URL is set); pass --forge github|gitlab to say which"
    )


def forge_from_env(env: Mapping[str, str], name: ForgeName | None = None) -> Forge:
    """The forge client for the job's pull or merge request; a `ReviewError` when the job
    runs for none, or a variable or the token is missing."""
    chosen = name or detect_forge(env)
    return _github(env) if chosen == "github" else _gitlab(env)


def _github(env: Mapping[str, str]) -> GitHub:
    event = _github_event(env)
    number = pull_request_number(event)
    if number is None:
        kind = env.get("GITHUB_EVENT_NAME") or "this event"
        raise ReviewError(
            f"not running for a pull request ({kind}): nothing to comment on; run "
            "`provisioner comment` in a job triggered by pull_request"
        )
    repository = _required(env, "GITHUB_REPOSITORY", "the owner/name of the repository")
    token = _token(
        env,
        "GITHUB_TOKEN",
        "pass it to the step: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`, with "
        "`permissions: pull-requests: write` on the job",
    )
    api_url = check_url(env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API, "GITHUB_API_URL")
    return GitHub(api_url, repository, number, token, _graphql_url(env, api_url))


def _graphql_url(env: Mapping[str, str], api_url: str) -> str | None:
    """GITHUB_GRAPHQL_URL when it is on the REST API's own host (the token goes to no other);
    else None, and the endpoint is found beside the REST API."""
    given = env.get("GITHUB_GRAPHQL_URL", "").strip()
    if not given:
        return None
    url = check_url(given, "GITHUB_GRAPHQL_URL")
    same_host = urlsplit(url)[:2] == urlsplit(api_url)[:2]
    return url if same_host else None


def pull_request_number(event: Mapping[str, Any]) -> int | None:
    """The pull request of a `pull_request`/`pull_request_target` event, or of an
    `issue_comment` event on a pull request."""
    pull = event.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    issue = event.get("issue")
    if (
        isinstance(issue, dict)
        and isinstance(issue.get("pull_request"), dict)
        and isinstance(issue.get("number"), int)
    ):
        return int(issue["number"])
    return None


def is_fork_pull_request(event: Mapping[str, Any]) -> bool:
    """Whether a `pull_request` event comes from another repository (a fork), whose
    GITHUB_TOKEN is read-only."""
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return False
    head = (pull.get("head") or {}).get("repo") or {}
    base = (pull.get("base") or {}).get("repo") or {}
    if not isinstance(head, dict) or not isinstance(base, dict):
        return False
    head_name, base_name = head.get("full_name"), base.get("full_name")
    return bool(head_name and base_name and head_name != base_name)


def github_event(env: Mapping[str, str]) -> dict[str, Any]:
    """The event payload, or an empty one when the file is missing or unreadable."""
    try:
        return _github_event(env)
    except ReviewError:
        return {}


def _github_event(env: Mapping[str, str]) -> dict[str, Any]:
    path = _required(env, "GITHUB_EVENT_PATH", "the event payload GitHub Actions writes")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReviewError(f"cannot read the event payload {path}: {error}") from None
    if not isinstance(event, dict):
        raise ReviewError(f"the event payload {path} is not a JSON object")
    return event


def _gitlab(env: Mapping[str, str]) -> GitLab:
    iid = env.get("CI_MERGE_REQUEST_IID", "")
    if not iid:
        raise ReviewError(
            "not running for a merge request (CI_MERGE_REQUEST_IID is not set): nothing to "
            "comment on; run the job in a merge request pipeline "
            "(rules: - if: $CI_PIPELINE_SOURCE == 'merge_request_event')"
        )
    if not iid.isdigit():
        raise ReviewError(f"CI_MERGE_REQUEST_IID is not a number: {iid!r}")
    project = _required(env, "CI_PROJECT_ID", "the project's id")
    token = _token(
        env,
        "GITLAB_TOKEN",
        "set it to a project access token with the `api` scope and at least the Reporter "
        "role, as a masked CI/CD variable; CI_JOB_TOKEN cannot post notes",
    )
    api_url = check_url(_required(env, "CI_API_V4_URL", "GitLab's API URL"), "CI_API_V4_URL")
    return GitLab(api_url, project, int(iid), token)


def _token(env: Mapping[str, str], name: str, how: str) -> str:
    token = env.get(name, "").strip()
    if not token:
        raise ReviewError(f"{name} is not set: {how}")
    return token


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ReviewError(f"{name} is not set ({what})")
    return value
