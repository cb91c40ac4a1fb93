"""Where the operator's token goes is the operator's choice (contract section 6, "Who decides
what"): `--platform-url` > `AEP_PLATFORM_URL` > the project file, whose URL may only be
Adobe's platform or loopback.

End to end, in-process: a tiny HTTP server on loopback records every request and its
Authorization header, and every outgoing connection and name lookup of the process is
recorded too, so "nothing was sent anywhere" is observed, not assumed.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provisioner.cli.context import run_context
from provisioner.errors import TargetError
from provisioner.manifest.project import Environment, Project
from tests.workspace import Outcome, Workspace, kinesis

OPERATOR_TOKEN = "operator-token-0123456789"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str


class Recorder:
    """An HTTP server on loopback that answers every request 401 and remembers it."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                authorization = self.headers.get("Authorization") or ""
                recorder.seen.append(Seen(self.command, self.path, authorization))
                body = b'{"message": "recorded"}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def tokens(self) -> set[str]:
        return {s.authorization for s in self.seen}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    thread = threading.Thread(target=found.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()
        thread.join(timeout=5)


@dataclass
class Network:
    """Every connection the process opens, and every name it looks up, off loopback."""

    connects: list[Any]
    lookups: list[str]


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    seen = Network([], [])
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not _loopback(host):
            seen.connects.append(address)
            raise ConnectionRefusedError(f"test: no connection to {address} allowed")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(str(host)):
            seen.lookups.append(str(host))
            raise socket.gaierror(f"test: no lookup of {host} allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def project_file(ws: Workspace, platform_url: str | None) -> None:
    url = f"\n    platformUrl: '{platform_url}'" if platform_url else ""
    text = f"manifests: [manifests/]\nenvironments:\n  prod:\n    sandbox: prod{url}\n"
    (ws.root / "provisioner.yaml").write_text(text, encoding="utf-8")


def with_token(ws: Workspace) -> Workspace:
    """The operator's credentials as a ready token: what a request carries is visible."""
    ws.env["AEP_ACCESS_TOKEN"] = OPERATOR_TOKEN
    return ws


def first_line(outcome: Outcome) -> str:
    return outcome.err.splitlines()[0]


HOSTILE = [
    "https://evil.example.com",
    "https://platform.adobe.io.evil.com",
    "https://evil-adobe.io",
    "https://x.adobe.io.",
    "https://x.adobe.io:8443",
    "http://platform.adobe.io",
    "http://10.0.0.2:8080",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_project_url_sends_nothing_anywhere(
    workspace: Workspace, recorder: Recorder, network: Network, url: str
) -> None:
    ws = with_token(workspace)
    ws.write("orders.yaml", kinesis("orders"))
    project_file(ws, url)
    del ws.env["AEP_PLATFORM_URL"]  # nothing of the operator's names a URL
    for command in (["plan"], ["apply", "--auto-approve"], ["destroy", "--auto-approve"]):
        outcome = ws.run(*command, "--env", "prod")
        assert outcome.code == 1, outcome
        assert "environments.prod.platformUrl" in outcome.err
        assert "AEP_PLATFORM_URL or --platform-url" in outcome.err
        assert outcome.out == ""
    assert recorder.seen == []
    assert (network.connects, network.lookups) == ([], [])
    assert ws.resources("flows") == []


def test_aep_platform_url_beats_the_project_file(
    workspace: Workspace, recorder: Recorder, network: Network
) -> None:
    ws = with_token(workspace)
    project_file(ws, "https://platform.adobe.io")
    ws.write("orders.yaml", kinesis("orders"))
    ws.env["AEP_PLATFORM_URL"] = recorder.url
    outcome = ws.run("plan", "--env", "prod")
    assert outcome.code == 1  # the recorder refuses the token: the run stops there
    assert recorder.tokens == {f"Bearer {OPERATOR_TOKEN}"}
    assert (network.connects, network.lookups) == ([], [])

    shown = ws.run("import", "--name", "orders", "--env", "prod")
    assert first_line(shown) == (
        f"Target: {recorder.url} (org EMULATOR0000000000000000@AdobeOrg, sandbox prod), "
        "URL from AEP_PLATFORM_URL"
    )


def test_the_flag_beats_aep_platform_url(
    workspace: Workspace, recorder: Recorder, network: Network
) -> None:
    ws = workspace
    project_file(ws, recorder.url)
    ws.write("orders.yaml", kinesis("orders"))
    ws.env["AEP_PLATFORM_URL"] = recorder.url
    outcome = ws.run("plan", "--env", "prod", "--platform-url", ws.url, "--format", "json")
    assert outcome.code == 0, outcome.err
    assert outcome.json["target"]["url"] == ws.url
    assert recorder.seen == [] and network.connects == []

    shown = ws.run("import", "--name", "orders", "--env", "prod", "--platform-url", ws.url)
    assert first_line(shown).endswith(", URL from --platform-url")


def test_the_project_file_names_the_url_when_the_operator_does_not(
    workspace: Workspace, recorder: Recorder, network: Network
) -> None:
    ws = workspace
    project_file(ws, ws.url)  # loopback: the emulator
    ws.write("orders.yaml", kinesis("orders"))
    del ws.env["AEP_PLATFORM_URL"]
    outcome = ws.run("plan", "--env", "prod", "--format", "json")
    assert outcome.code == 0, outcome.err
    assert outcome.json["target"]["url"] == ws.url

    shown = ws.run("import", "--name", "orders", "--env", "prod")
    assert first_line(shown) == (
        f"Target: {ws.url} (org EMULATOR0000000000000000@AdobeOrg, sandbox prod), "
        "URL from the project file's environment 'prod'"
    )
    assert recorder.seen == [] and network.connects == []


def test_the_ims_url_is_the_operators_whatever_the_project_file_says(
    workspace: Workspace, recorder: Recorder, network: Network
) -> None:
    """The OAuth exchange (the client secret) goes to AEP_IMS_URL, never to a URL the
    project file names, even a loopback one it may name for the platform."""
    ws = workspace
    project_file(ws, recorder.url)
    ws.write("orders.yaml", kinesis("orders"))
    del ws.env["AEP_PLATFORM_URL"]
    ws.env["AEP_IMS_URL"] = ws.url
    ws.run("plan", "--env", "prod")
    assert [s.path for s in recorder.seen if "/ims/" in s.path] == []
    assert all(s.authorization.startswith("Bearer ") for s in recorder.seen)
    assert network.connects == []


def test_the_plans_first_line_names_the_source(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders"))
    outcome = ws.plan()
    assert outcome.out.splitlines()[0].endswith(", URL from AEP_PLATFORM_URL")


def test_a_refused_project_url_is_refused_at_use_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the project was made, the URL is checked where the target is chosen."""
    environment = Environment.model_construct(
        sandbox="prod", platformUrl="https://evil.example.com", vars={}, clients=[]
    )
    project = Project.model_construct(
        project="default",
        manifests=[],
        environments={"prod": environment},
        root=tmp_path,
        file=tmp_path / "provisioner.yaml",
    )
    monkeypatch.setattr("provisioner.cli.context.find_project", lambda _: project)
    environ = {"AEP_ACCESS_TOKEN": OPERATOR_TOKEN, "AEP_CLIENT_ID": "c", "AEP_ORG_ID": "o"}
    with pytest.raises(TargetError, match=r"environments\.prod\.platformUrl of .* is refused"):
        run_context((), "prod", None, None, False, environ=environ, need_paths=False)
    chosen = run_context(
        (), "prod", None, "https://staging.example.com", False, environ=environ, need_paths=False
    )
    assert (chosen.target.url, chosen.target.source) == (
        "https://staging.example.com",
        "--platform-url",
    )
