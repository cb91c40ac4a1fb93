"""The emulator as a WSGI application: IMS, the API gateway's checks, the Flow Service and
the Segmentation Service's Audiences API, answered by one route table (`routes.py`).

Served over HTTP by `server.py`, or used in-process through `httpx.WSGITransport`. Admin
endpoints under `/emulator/` (`admin_routes.py`) are for tests and benchmarks; they are not
part of the platform, and all but `health` need the emulator's own credentials (`admin.py`).

Every Flow Service and Audiences request names a sandbox that must exist (`sandboxes.py`);
in any other, it is answered 500 in the Flow Service's error shape, as the platform does.

A platform request (anything but the admin endpoints) is counted (`stats.py`) and shown to
the observers; then come the injected faults, when any is set (`faults.py`: latency, a
dropped connection, a failing status), the quota per client, when one is set (`quota.py`),
which refuses before any work is done, and last the answer (whose reply a `lose` fault
drops).

The emulator keeps a clock of its own (real time plus what `advance` added, `runs.py`): its
timestamps and every answer's `Date` header follow it; IMS tokens keep real time.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from provisioner.emulator.audiences import AudienceSeed
from provisioner.emulator.config import EmulatorConfig
from provisioner.emulator.errors import ApiError, throttled
from provisioner.emulator.faults import Faults, inject
from provisioner.emulator.gateway import client_of
from provisioner.emulator.messages import Request, Response
from provisioner.emulator.parts import Parts
from provisioner.emulator.router import Area, error_response
from provisioner.emulator.routes import ADMIN_PATH, TABLE
from provisioner.emulator.store import Store

__all__ = ["ADMIN_PATH", "EmulatorApp", "EmulatorConfig", "Request", "Response"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class EmulatorApp(Parts):
    def __init__(
        self,
        store: Store | None = None,
        config: EmulatorConfig | None = None,
        faults: Faults | None = None,
        quota_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(store, config, faults, quota_clock)
        # Called with (number, method, path) for every platform request, before it is
        # carried out: tests use it to stop a client at an exact point.
        self.observers: list[Callable[[int, str, str], None]] = []

    @property
    def requests(self) -> Counter[str]:
        """Platform requests counted since the last reset: by method, `total`, and `one
        object` (those about one Flow Service object)."""
        return self.stats.requests

    def seed_audiences(
        self,
        sandbox: str,
        audiences: Iterable[AudienceSeed | Mapping[str, Any]],
        replace: bool = False,
    ) -> int:
        """Seed audiences `{id, name, description?, lifecycleState?}` into a sandbox, which
        then knows only its seeded audiences; see `Audiences.seed`."""
        return self.audiences.seed(sandbox, audiences, replace)

    def advance(self, hours: int = 1) -> list[dict[str, Any]]:
        """Move the emulator's clock `hours` hours on, running every enabled dataflow with
        an audience once an hour; returns the runs made, oldest first (see `runs.py`)."""
        return self.runs.advance(hours)

    # WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        status, headers, body = self.respond(request)
        headers.setdefault("x-request-id", str(uuid.uuid4()))
        headers.setdefault("Date", formatdate(self.store.now_ms() / 1000, usegmt=True))
        headers["Content-Length"] = str(len(body))
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]

    def respond(self, request: Request) -> Response:
        area = TABLE.area(request)
        if not area.platform:
            return TABLE.answer(self, area, request)
        in_flight = self.stats.in_flight
        if in_flight is None:
            return self._platform(area, request)
        with in_flight.tracking():
            return self._platform(area, request)

    def _platform(self, area: Area, request: Request) -> Response:
        number = self.stats.count(request.method, request.path)
        for observe in self.observers:
            observe(number, request.method, request.path)
        if not self.faults.active():
            return self._answer(area, request)
        try:
            return inject(
                self.faults, request.method, request.path, lambda: self._answer(area, request)
            )
        except ApiError as injected:  # a status fault: the answer of a failing platform
            return error_response(injected)

    def _answer(self, area: Area, request: Request) -> Response:
        """The gateway's quota first (a refused request does no work), then the answer."""
        quota = self.quota
        if area.metered and quota is not None:
            retry_after = quota.admit(client_of(self, request))
            if retry_after is not None:
                return error_response(throttled(retry_after))
        return TABLE.answer(self, area, request)
