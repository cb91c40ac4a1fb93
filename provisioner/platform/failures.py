"""Platform errors a person can act on: what was done, what the platform said, what to do."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from provisioner.errors import PlatformError

_FLOW_CODE = re.compile(r"FLOW-(\d+-\d+)")


class ApiCallError(PlatformError):
    """The platform answered an error status."""

    def __init__(
        self,
        operation: str,
        method: str,
        path: str,
        status: int,
        code: str,
        message: str,
        hint: str,
        attempts: int = 1,
    ) -> None:
        self.operation, self.method, self.path = operation, method, path
        self.status, self.code, self.platform_message = status, code, message
        self.hint, self.attempts = hint, attempts
        super().__init__(self._text())

    def _text(self) -> str:
        code = f" {self.code}" if self.code else ""
        said = f": {self.platform_message}" if self.platform_message else ""
        return (
            f"{self.operation}: {self.method} {self.path} answered {self.status}{code}"
            f"{said}. {self.hint}"
        )


class UnreachableError(PlatformError):
    """No answer at all: the connection failed or timed out, after every retry."""


class MalformedAnswerError(PlatformError):
    """The platform answered, but not in the shape the tool relies on."""


class AnswerLimitError(PlatformError):
    """An answer too slow (past the request's deadline) or too large to accept."""


class RequestNotSentError(PlatformError):
    """A request could not be formed (an invalid header value); nothing was sent."""


class AmbiguousWriteError(PlatformError):
    """A write may or may not have happened: the reply was lost after it was sent."""


def hint_for(status: int, attempts: int) -> str:
    if status == 401:
        return (
            "The credentials were refused: check AEP_CLIENT_ID and AEP_CLIENT_SECRET "
            "(or AEP_ACCESS_TOKEN) and that the token has not been revoked."
        )
    if status == 403:
        return (
            "Access denied: check AEP_ORG_ID and AEP_CLIENT_ID, and that the credential's "
            "product profile grants the Flow Service and destinations in this sandbox."
        )
    if status == 404:
        return "It does not exist (deleted outside the tool, or another sandbox?); run plan again."
    if status == 412:
        return "The object changed since it was read; run plan again."
    if status == 429:
        return (
            f"Still rate-limited after {attempts} tries; wait and run again, or lower "
            "--concurrency."
        )
    if status >= 500:
        return f"The platform is failing (after {attempts} tries); try again later."
    return "The request was refused as invalid; the message above says why."


def describe_error(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from any of the platform's error body formats."""
    code, message = _code_and_message(response)
    return one_line(code, 40), one_line(message, _MESSAGE_LIMIT)


_MESSAGE_LIMIT = 300  # characters of the platform's message kept in an error
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int) -> str:
    """Text from the platform made safe for one terminal line: no control characters
    (no escape sequences, no newlines), at most `limit` characters."""
    flat = " ".join(_UNPRINTABLE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _code_and_message(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return "", response.content[:_MESSAGE_LIMIT].decode("utf-8", "replace")
    if not isinstance(body, dict):
        return "", str(body)[:_MESSAGE_LIMIT]
    if "error_code" in body:  # the API gateway
        return str(body["error_code"]), str(body.get("message", ""))
    if "error" in body:  # IMS
        return str(body["error"]), str(body.get("error_description", ""))
    code_match = _FLOW_CODE.search(str(body.get("type", "")))
    code = code_match.group(1) if code_match else ""
    report = body["report"] if isinstance(body.get("report"), dict) else {}
    message = (
        report.get("detailed-message")
        or body.get("errorMessage")
        or body.get("detail")
        or body.get("title")
        or ""
    )
    return code, str(message)
