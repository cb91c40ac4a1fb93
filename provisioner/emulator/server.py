"""Serving the emulator: a multi-threaded HTTP server, and an in-process httpx transport."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer
from wsgiref.types import WSGIApplication

import httpx

from provisioner.emulator.app import EmulatorApp
from provisioner.emulator.faults import LostResponse


class _Handler(ServerHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], LostResponse):
            return  # write nothing: the client sees the connection close without a reply
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    verbose = False

    def handle(self) -> None:
        # wsgiref's own handle(), with a ServerHandler that can drop a reply.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536 or not self.parse_request():
            return
        output = cast(IO[bytes], self.wfile)
        handler = _Handler(
            self.rfile, output, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        if self.verbose:
            super().log_message(format, *args)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class ThreadingWSGIServer6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


def make_server(
    app: WSGIApplication, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> ThreadingWSGIServer:
    """A server of `app`: the emulator, or a test's wrapper around it."""
    handler = type("RequestHandler", (_RequestHandler,), {"verbose": verbose})
    server_class = ThreadingWSGIServer6 if ":" in host else ThreadingWSGIServer
    server = server_class((host, port), handler)
    server.set_app(app)
    return server


def bound_host(server: ThreadingWSGIServer) -> str:
    host = server.server_address[0]
    return host.decode() if isinstance(host, bytes) else str(host)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address (a name counts if it is localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url(server: ThreadingWSGIServer) -> str:
    """A URL a client on this machine can use. A wildcard bind (0.0.0.0, ::) is reached
    through loopback, the only plain-http address the tool accepts."""
    host, port = bound_host(server), server.server_address[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def serving(app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on loopback in a background thread; yields its base URL."""
    server = make_server(app, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class EmulatorTransport(httpx.BaseTransport):
    """The emulator in-process; a lost reply surfaces as it would over a network."""

    def __init__(self, app: EmulatorApp) -> None:
        self._inner = httpx.WSGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except LostResponse:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
