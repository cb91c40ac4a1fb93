"""Every request that reaches the emulator, as it arrived, with the status it got."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.emulator import EmulatorApp
from provisioner.emulator.app import Request, Response
from provisioner.emulator.catalog import FLOW_SERVICE_PATH


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # relative to the Flow Service base, as `/flows/ID`
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None
    status: int
    answer: bytes

    @property
    def refused_as_undocumented(self) -> bool:
        """Strict mode's refusal: a write no document shows, or a wrong action form."""
        text = self.answer.decode(errors="replace")
        return self.status == 400 and ("not a documented" in text or "op and subOp" in text)


class RequestLog:
    """Wraps an emulator so that each Flow Service request is recorded."""

    def __init__(self, app: EmulatorApp) -> None:
        self.entries: list[Recorded] = []
        self._respond = app.respond
        app.respond = self._record  # type: ignore[method-assign]

    def _record(self, request: Request) -> Response:
        status, headers, answer = self._respond(request)
        if request.path.startswith(FLOW_SERVICE_PATH + "/"):
            self.entries.append(
                Recorded(
                    request.method,
                    request.path[len(FLOW_SERVICE_PATH) :],
                    request.query,
                    request.headers,
                    json.loads(request.body) if request.body else None,
                    status,
                    answer,
                )
            )
        return status, headers, answer

    def writes(self) -> list[Recorded]:
        return [e for e in self.entries if e.method != "GET"]

    def refused(self) -> list[Recorded]:
        return [e for e in self.entries if e.refused_as_undocumented]
