"""Fakes of the GitHub and GitLab REST APIs a plan comment uses, served on loopback.

Each keeps its comments in memory and records every request, so tests can assert what was
written (and that nothing was). Pages are small on purpose, so pagination is exercised.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]
GITHUB_TOKEN = "ghs_fake_installation_token_0123456789"
GITLAB_TOKEN = "glpat-fake-project-token-0123456789"
STATUS_TEXT = {200: "OK", 201: "Created", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


@dataclass
class Reply:
    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeForge:
    """Shared plumbing: request parsing, the request log, JSON replies."""

    page_size = 2

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.next_id = 1000

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        seen = Seen(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            parse_qs(environ.get("QUERY_STRING", "")),
            json.loads(raw) if raw else None,
        )
        with self.lock:
            self.seen.append(seen)
            reply = self.route(seen, environ)
        data = json.dumps(reply.body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        start_response(f"{reply.status} {STATUS_TEXT[reply.status]}", headers + reply.headers)
        return [data]

    def route(self, seen: Seen, environ: Environ) -> Reply:
        raise NotImplementedError

    def writes(self) -> list[Seen]:
        """Requests that change something: a GraphQL query is POSTed, yet reads."""
        return [
            s
            for s in self.seen
            if s.method in ("POST", "PATCH", "PUT", "DELETE") and s.path != "/graphql"
        ]

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def page(self, items: list[Any], seen: Seen) -> tuple[list[Any], int | None]:
        """One page of `items` (1-based `page`), and the next page's number if any."""
        number = int(seen.query.get("page", ["1"])[0])
        start = (number - 1) * self.page_size
        rest = items[start + self.page_size :]
        return items[start : start + self.page_size], (number + 1 if rest else None)


class FakeGitHub(FakeForge):
    """Issue comments of pull requests, and who the token is.

    `viewer` is a person's token: GET /user names them. `viewer` None is an installation
    token, as the GITHUB_TOKEN of Actions: GET /user answers 403, and GraphQL's `viewer`
    names the app's bot, `app` (None: GraphQL refuses too, and nothing says who it is).
    Like GitHub, any comment can be edited with a writing token: only the tool's own
    checks keep it off others' comments.
    """

    def __init__(
        self,
        viewer: str | None = None,
        read_only: bool = False,
        app: str | None = "github-actions[bot]",
    ) -> None:
        super().__init__()
        self.viewer = viewer
        self.app = app
        self.read_only = read_only
        self.comments: dict[int, list[dict[str, Any]]] = {}

    def author(self) -> str:
        return self.viewer or self.app or "some-app[bot]"

    def add(self, number: int, body: str, login: str = "github-actions[bot]") -> dict[str, Any]:
        comment_id = self.new_id()
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"login": login, "type": "Bot"},
            "html_url": f"https://github.example/octo/repo/pull/{number}#issuecomment-{comment_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def route(self, seen: Seen, environ: Environ) -> Reply:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {GITHUB_TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        if seen.path == "/user":
            if self.viewer is None:
                return Reply(403, {"message": "Resource not accessible by integration"})
            return Reply(200, {"login": self.viewer})
        if seen.path == "/graphql" and seen.method == "POST":
            return self._graphql(seen.body)
        listing = re.fullmatch(r"/repos/octo/repo/issues/(\d+)/comments", seen.path)
        if listing and seen.method == "GET":
            return self._list(int(listing.group(1)), seen, environ)
        if listing and seen.method == "POST":
            if self.read_only:
                return Reply(403, {"message": "Resource not accessible by integration"})
            return Reply(201, self.add(int(listing.group(1)), seen.body["body"], self.author()))
        one = re.fullmatch(r"/repos/octo/repo/issues/comments/(\d+)", seen.path)
        if one and seen.method == "PATCH":
            return self._update(int(one.group(1)), seen.body["body"])
        return Reply(404, {"message": "Not Found"})

    def _graphql(self, body: Any) -> Reply:
        query = body.get("query", "") if isinstance(body, dict) else ""
        login = self.viewer or self.app
        if "viewer" not in query or login is None:
            return Reply(200, {"errors": [{"message": "Resource not accessible by integration"}]})
        return Reply(200, {"data": {"viewer": {"login": login}}})

    def _list(self, number: int, seen: Seen, environ: Environ) -> Reply:
        items, next_page = self.page(self.comments.get(number, []), seen)
        headers = []
        if next_page is not None:
            base = f"http://{environ['HTTP_HOST']}{seen.path}"
            headers.append(("Link", f'<{base}?per_page=100&page={next_page}>; rel="next"'))
        return Reply(200, items, headers)

    def _update(self, comment_id: int, body: str) -> Reply:
        for comment in (c for cs in self.comments.values() for c in cs):
            if comment["id"] == comment_id:
                if self.read_only:
                    return Reply(403, {"message": "Resource not accessible by integration"})
                comment["body"] = body
                return Reply(200, comment)
        return Reply(404, {"message": "Not Found"})


class FakeGitLab(FakeForge):
    """Notes of merge requests under /api/v4; the token belongs to user `viewer_id`."""

    def __init__(self, viewer_id: int = 77, read_only: bool = False) -> None:
        super().__init__()
        self.viewer_id = viewer_id
        self.read_only = read_only
        self.notes: dict[int, list[dict[str, Any]]] = {}

    def add(self, iid: int, body: str, author_id: int = 77, system: bool = False) -> None:
        note = {"id": self.new_id(), "body": body, "system": system}
        note["author"] = {"id": author_id, "username": f"user{author_id}"}
        self.notes.setdefault(iid, []).append(note)

    def route(self, seen: Seen, environ: Environ) -> Reply:
        if environ.get("HTTP_PRIVATE_TOKEN") != GITLAB_TOKEN:
            return Reply(401, {"message": "401 Unauthorized"})
        if seen.path == "/api/v4/user":
            return Reply(200, {"id": self.viewer_id, "username": "project_42_bot"})
        listing = re.fullmatch(r"/api/v4/projects/42/merge_requests/(\d+)/notes", seen.path)
        if listing and seen.method == "GET":
            items, next_page = self.page(self.notes.get(int(listing.group(1)), []), seen)
            return Reply(200, items, [("x-next-page", str(next_page or ""))])
        if self.read_only and seen.method in ("POST", "PUT"):
            return Reply(403, {"message": "403 Forbidden"})
        if listing and seen.method == "POST":
            self.add(int(listing.group(1)), seen.body["body"], self.viewer_id)
            return Reply(201, self.notes[int(listing.group(1))][-1])
        one = re.fullmatch(r"/api/v4/projects/42/merge_requests/(\d+)/notes/(\d+)", seen.path)
        if one and seen.method == "PUT":
            for note in self.notes.get(int(one.group(1)), []):
                if note["id"] == int(one.group(2)):
                    note["body"] = seen.body["body"]
                    return Reply(200, note)
        return Reply(404, {"message": "404 Not found"})


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def serving(app: FakeForge) -> Iterator[str]:
    """Serve a fake on 127.0.0.1 in a background thread; yields its base URL."""
    server = _Server(("127.0.0.1", 0), _Quiet)
    server.set_app(app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
