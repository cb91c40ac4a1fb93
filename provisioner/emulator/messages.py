"""A request as the emulator reads it from WSGI, and the answers it gives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from provisioner.emulator.errors import ApiError, bad_request

Response = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    # The path's non-empty segments, as the route table matches them.
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.segments = tuple(part for part in self.path.split("/") if part)

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return cls(
            environ["REQUEST_METHOD"].upper(), environ.get("PATH_INFO", ""), query, headers, body
        )

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The body as JSON, refused as the platform refuses it: without a JSON content type
        (its front's problem shape), or not JSON (the Flow Service's 400)."""
        if not self.body:
            return None
        if "json" not in self.headers.get("content-type", ""):
            raise ApiError(400, "0", "A valid content-type must be specified", shape="problem")
        try:
            return json.loads(self.body)
        except ValueError:
            raise bad_request("1405", "The request body is not valid JSON") from None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    if payload is None:
        return status, dict(headers or {}), b""
    return encoded_response(status, json.dumps(payload), headers)


def encoded_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An answer whose JSON is encoded already."""
    return status, {"Content-Type": "application/json", **(headers or {})}, text.encode()
