"""The REST APIs of the two forges, reduced to what a plan comment needs: list the comments
of one pull or merge request, create one, update one, and tell which are the token's own.

Every failure becomes a `ReviewError` with one line the user can act on; the token is never
part of a message (it is registered with the redactor before any request).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from provisioner import __version__
from provisioner.errors import ProvisionerError
from provisioner.platform.redact import REDACTOR

PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments: past that, a pull request is no place for another one
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Who the token is, for tokens that may not call GET /user: an app's installation token,
# such as the GITHUB_TOKEN of Actions (whose comments are by `github-actions[bot]`).
VIEWER_QUERY = "query { viewer { login } }"


class ReviewError(ProvisionerError):
    """The comment could not be read or written; the message says why and what to do."""


@dataclass(frozen=True)
class ForgeComment:
    id: str
    body: str
    author: str  # GitHub: the login; GitLab: the user id
    url: str = ""


class Forge(Protocol):
    """One pull or merge request's comments, as the token sees them."""

    @property
    def where(self) -> str:
        """Names the pull or merge request for messages, e.g. `octo/repo#12`."""
        ...

    def comments(self) -> Iterator[ForgeComment]: ...

    def identity(self) -> str | None:
        """The author the token's own comments carry, as `ForgeComment.author` names it;
        None when the forge does not say (then no comment can be told the token's own)."""
        ...

    def create(self, body: str) -> ForgeComment: ...

    def update(self, comment: ForgeComment, body: str) -> ForgeComment: ...

    def close(self) -> None: ...


class _Api:
    """An httpx client that turns every failure into one clear line."""

    def __init__(self, base_url: str, headers: dict[str, str], hints: dict[int, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = _origin(self.base_url)
        self.hints = hints
        self.client = httpx.Client(
            headers={"User-Agent": f"provisioner/{__version__}", **headers},
            timeout=TIMEOUT,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = self.base_url + url
        if _origin(url) != self.origin:
            # A pagination link elsewhere must not receive the token.
            raise ReviewError(f"refusing to follow a link off {self.origin}: {url}")
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            reason = REDACTOR(str(error)) or type(error).__name__
            raise ReviewError(f"cannot reach {self.origin}: {reason}") from None

    def checked(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        response = self.request(method, url, **kwargs)
        if response.is_success:
            return response
        raise self.failure(response, what)

    def failure(self, response: httpx.Response, what: str) -> ReviewError:
        status = response.status_code
        detail = _api_message(response)
        hint = self.hints.get(status, "")
        message = f"{what} failed: HTTP {status}{f' ({detail})' if detail else ''}"
        return ReviewError(REDACTOR(f"{message}; {hint}" if hint else message))

    def whoami(self, what: str) -> httpx.Response | None:
        """`GET /user`'s answer when it says who the token is, else None; a refused token
        (401) is an error at once, as every later request would be refused too."""
        response = self.request("GET", "/user")
        if response.status_code == 401:
            raise self.failure(response, what)
        return response if response.is_success else None

    def json_list(self, response: httpx.Response, what: str) -> list[dict[str, Any]]:
        items = _json(response)
        if not isinstance(items, list):
            raise ReviewError(f"{what}: the answer is not a JSON list")
        return [i for i in items if isinstance(i, dict)]


class GitHub:
    """Issue comments of one pull request (`/repos/{owner}/{repo}/issues/{number}/comments`)."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        number: int,
        token: str,
        graphql_url: str | None = None,
    ) -> None:
        REDACTOR.add(token)
        self.repository = repository
        self.number = number
        self.graphql_url = graphql_url or graphql_url_of(api_url)
        self.api = _Api(
            api_url,
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            {
                401: "GITHUB_TOKEN was refused: is it expired or mistyped?",
                403: (
                    "the token may not write comments here. A pull request from a fork gets a "
                    "read-only GITHUB_TOKEN, so its plan cannot be posted (read it in the job "
                    "summary); otherwise give the job `permissions: pull-requests: write`"
                ),
                404: (
                    f"check GITHUB_REPOSITORY ({repository}), the pull request number "
                    f"({number}) and that the token can see the repository"
                ),
            },
        )

    @property
    def where(self) -> str:
        return f"{self.repository}#{self.number}"

    def comments(self) -> Iterator[ForgeComment]:
        url: str | None = f"/repos/{self.repository}/issues/{self.number}/comments"
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.api.checked("GET", url, "listing the comments", params=params)
            for item in self.api.json_list(response, "listing the comments"):
                yield _github_comment(item)
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries its own query

    def identity(self) -> str | None:
        """The token's login: `GET /user` answers for a person's token; an installation
        token (an app's, the GITHUB_TOKEN of Actions) is refused there, and GraphQL's
        `viewer` names its bot instead. Neither answering: None, never a guess."""
        response = self.api.whoami("asking GitHub who the token is")
        if response is not None:
            return _field(_json(response), "login") or None
        try:
            answer = self.api.request("POST", self.graphql_url, json={"query": VIEWER_QUERY})
        except ReviewError:  # an endpoint off the API's origin, or unreachable
            return None
        data = _json(answer) if answer.is_success else None
        viewer = data.get("data") if isinstance(data, dict) else None
        login = viewer.get("viewer") if isinstance(viewer, dict) else None
        return _field(login, "login") or None

    def create(self, body: str) -> ForgeComment:
        url = f"/repos/{self.repository}/issues/{self.number}/comments"
        response = self.api.checked("POST", url, "posting the comment", json={"body": body})
        return _github_comment(_json(response))

    def update(self, comment: ForgeComment, body: str) -> ForgeComment:
        url = f"/repos/{self.repository}/issues/comments/{comment.id}"
        response = self.api.checked("PATCH", url, "updating the comment", json={"body": body})
        return _github_comment(_json(response))

    def close(self) -> None:
        self.api.close()


class GitLab:
    """Notes of one merge request (`/projects/{id}/merge_requests/{iid}/notes`)."""

    def __init__(self, api_url: str, project: str, iid: int, token: str) -> None:
        REDACTOR.add(token)
        self.project = project
        self.iid = iid
        self.notes_path = f"/projects/{quote(project, safe='')}/merge_requests/{iid}/notes"
        self.api = _Api(
            api_url,
            {"PRIVATE-TOKEN": token},
            {
                401: "GITLAB_TOKEN was refused: is it expired or mistyped?",
                403: (
                    "the token may not write notes here: use a project access token (or a "
                    "personal one) with the `api` scope and at least the Reporter role in "
                    "GITLAB_TOKEN; CI_JOB_TOKEN cannot post notes"
                ),
                404: (
                    f"check CI_PROJECT_ID ({project}), CI_MERGE_REQUEST_IID ({iid}) and "
                    "that the token can see the project"
                ),
            },
        )

    @property
    def where(self) -> str:
        return f"project {self.project} !{self.iid}"

    def comments(self) -> Iterator[ForgeComment]:
        page: str | None = "1"
        for _ in range(MAX_PAGES):
            if not page:
                return
            params = {"per_page": PER_PAGE, "page": page, "sort": "asc", "order_by": "created_at"}
            response = self.api.checked("GET", self.notes_path, "listing the notes", params=params)
            for item in self.api.json_list(response, "listing the notes"):
                if not item.get("system"):  # "added 1 commit" and the like
                    yield self._note(item)
            page = response.headers.get("x-next-page", "").strip() or None

    def identity(self) -> str | None:
        """The token's user id (`GET /user`: a project access token's bot user too)."""
        response = self.api.whoami("asking GitLab who the token is")
        return (_field(_json(response), "id") or None) if response is not None else None

    def create(self, body: str) -> ForgeComment:
        response = self.api.checked(
            "POST", self.notes_path, "posting the note", json={"body": body}
        )
        return self._note(_json(response))

    def update(self, comment: ForgeComment, body: str) -> ForgeComment:
        url = f"{self.notes_path}/{comment.id}"
        response = self.api.checked("PUT", url, "updating the note", json={"body": body})
        return self._note(_json(response))

    def close(self) -> None:
        self.api.close()

    def _note(self, item: Any) -> ForgeComment:
        author = item.get("author") if isinstance(item, dict) else None
        return ForgeComment(
            id=_field(item, "id") or "",
            body=str(item.get("body") or "") if isinstance(item, dict) else "",
            author=_field(author, "id") or "",
            url=f"{self.where} note {_field(item, 'id')}",
        )


def _github_comment(item: Any) -> ForgeComment:
    if not isinstance(item, dict):
        raise ReviewError("GitHub answered with something that is not a comment")
    user = item.get("user")
    return ForgeComment(
        id=_field(item, "id") or "",
        body=str(item.get("body") or ""),
        author=_field(user, "login") or "",
        url=_field(item, "html_url") or "",
    )


def graphql_url_of(api_url: str) -> str:
    """GitHub's GraphQL endpoint beside its REST API: `https://api.github.com/graphql`, or
    `https://HOST/api/graphql` for GitHub Enterprise Server's `https://HOST/api/v3`."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


def _field(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return None if value is None or isinstance(value, dict | list) else str(value)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _api_message(response: httpx.Response) -> str:
    body = _json(response)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:200] if message else ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
