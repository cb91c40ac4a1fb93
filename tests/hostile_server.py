"""A misbehaving Flow Service and IMS on 127.0.0.1, one behaviour per URL prefix.

`http://127.0.0.1:PORT/MODE` is a platform base URL (or an IMS URL) whose every answer
misbehaves the way MODE says: a paging loop, a trickle, a flood, garbage. Every handler
ends by itself (bounded loops), and the server counts the requests each mode received.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_TOKEN = {"access_token": "hostile-test-token", "expires_in": 86399}
TOKEN_ANSWERS: dict[str, bytes] = {
    "ims-ok": json.dumps(GOOD_TOKEN).encode(),
    "ims-html": b"<html><body>Sign in</body></html>",
    "ims-empty": b"{}",
    "ims-list": b"[]",
    "ims-newline": json.dumps({"access_token": "abc\r\nX-Evil: 1", "expires_in": 60}).encode(),
    "ims-no-expiry": json.dumps({"access_token": "tok", "expires_in": -5}).encode(),
}
MiB = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: HostileServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        mode = self._mode()
        if self.path.endswith("/ims/token/v3"):
            self._send(200, TOKEN_ANSWERS.get(mode, TOKEN_ANSWERS["ims-ok"]))
        else:
            self._send(201, json.dumps({"id": "made", "etag": '"1"'}).encode())

    def do_GET(self) -> None:
        mode = self._mode()
        handler = getattr(self, "_get_" + mode.replace("-", "_"), None)
        if handler is None:
            self._send(404, b'{"title": "no such mode"}')
        else:
            handler()

    def _mode(self) -> str:
        mode = self.path.lstrip("/").split("/", 1)[0]
        with self.server.lock:
            self.server.requests[mode] += 1
        return mode

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # the behaviours -------------------------------------------------------------------

    def _get_ok(self) -> None:
        self._send(200, b'{"items": []}')

    _get_fine = _get_ok

    def _get_loop(self) -> None:
        """A next link that always points back at the same page."""
        body = {"items": [], "_links": {"next": {"href": "/flows?continuationToken=again"}}}
        self._send(200, json.dumps(body).encode())

    def _get_trickle(self) -> None:
        """A valid answer, one byte every half second: it would take a minute."""
        body = b'{"items": []' + b" " * 100 + b"}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.5)

    def _get_flood_length(self) -> None:
        """Announces 100 GB."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(100 * 1024 * MiB))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(b'{"items": [')

    def _get_flood_body(self) -> None:
        """No length, then 1 MiB chunks of a list that never closes, up to 80 MiB."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        chunk = b'{"id": "x"},' * (MiB // 12)
        with contextlib.suppress(OSError):
            self.wfile.write(b'{"items": [')
            for _ in range(80):
                self.wfile.write(chunk)
        self.close_connection = True

    def _get_html(self) -> None:
        self._send(200, b"<html>maintenance</html>", "text/html")

    def _get_no_id(self) -> None:
        self._send(200, b'{"items": [{"name": "nameless"}]}')

    def _get_items_string(self) -> None:
        self._send(200, b'{"items": "none"}')

    def _get_item_number(self) -> None:
        self._send(200, b'{"items": [1]}')

    def _get_ansi_error(self) -> None:
        """An error whose message would paint the terminal and add lines."""
        message = "bad \x1b[31mred\x1b[0m request\nsecond line\r\n\x07third"
        self._send(400, json.dumps({"title": message}).encode())


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
