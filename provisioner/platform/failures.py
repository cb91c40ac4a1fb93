"""Platform errors a person can act on: what was done, what the platform said, what to do."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from provisioner.errors import PlatformError

_FLOW_CODE = re.compile(r"FLOW-(\d+-\d+)")
# Another service's code in an error's `type` (`…/errors/NEBULA-100058-400`), kept whole.
_SERVICE_CODE = re.compile(r"/errors/([A-Z][A-Z_]*-\d+-\d+)$")
# The Flow Service's "The sandbox with the name '…' could not be found" (2100-404 in Adobe's
# table), or a message that says so of a sandbox it names; not any message that mentions a
# sandbox and something not found.
_SANDBOX_CODE = re.compile(r"2100-\d{3}")
_SANDBOX_MISSING = re.compile(
    r"\bsandbox (?:with the name )?'[^']*' (?:could not be found|was not found|"
    r"is not found|not found|does not exist)",
    re.IGNORECASE,
)


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


class UnknownSandboxError(PlatformError):
    """The sandbox does not exist in the organisation, or the client may not use it.

    Not an ApiCallError: callers that read a 404 as "no such object" (or "no such
    audience") must never read it so."""


def says_unknown_sandbox(code: str, message: str) -> bool:
    """Whether an error's code or message says that the sandbox does not exist."""
    return bool(_SANDBOX_CODE.fullmatch(code) or _SANDBOX_MISSING.search(message))


def unknown_sandbox(
    sandbox: str, org: str, answer: str, said_so: bool, embedded: bool
) -> UnknownSandboxError:
    """The error for a request the platform refused because of its sandbox (`said_so`), or
    answered 500 before anything in the sandbox succeeded: what a live platform answers for
    a sandbox it does not know, though a failing platform answers so too."""
    doubt = (
        ""
        if said_so
        else " (the platform answers so for a sandbox it does not know; if the name is "
        "right, the platform is failing: try again later)"
    )
    if embedded:
        fix = (
            "The embedded emulator has prod, the sandboxes of provisioner.yaml's "
            "environments and those it holds data in: check the name, or create the sandbox "
            f"with `provisioner emulator sandboxes add {sandbox}`."
        )
    else:
        fix = (
            "Check the sandbox name (--sandbox, AEP_SANDBOX or the environment's sandbox in "
            "provisioner.yaml), and that the credential's product profile grants this sandbox."
        )
    return UnknownSandboxError(
        f"sandbox '{sandbox}' does not exist in org {org}, or this client cannot use it: "
        f"{answer}{doubt}. {fix}"
    )


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
    kind = str(body.get("type", ""))
    flow_code, service_code = _FLOW_CODE.search(kind), _SERVICE_CODE.search(kind)
    code = flow_code.group(1) if flow_code else service_code.group(1) if service_code else ""
    report = body["report"] if isinstance(body.get("report"), dict) else {}
    message = (
        report.get("detailed-message")
        or body.get("errorMessage")
        or body.get("detail")
        or _listed_error(body)
        or body.get("title")
        or ""
    )
    return code, str(message)


def _listed_error(body: dict[str, Any]) -> str:
    """The first of the Segmentation Service's `errors: {STATUS: [{code, message, value}]}`,
    after the body's title: `Unknown operator: … (value: …)`."""
    errors = body.get("errors")
    listed = next(iter(errors.values()), None) if isinstance(errors, dict) and errors else None
    first = listed[0] if isinstance(listed, list) and listed else None
    if not isinstance(first, dict) or not first.get("message"):
        return ""
    message = str(first["message"])
    title = str(body.get("title") or "")
    if title and title.lower() not in message.lower():
        message = f"{title}: {message}"
    value = first.get("value")
    return f"{message} (value: {value})" if value not in (None, "") else message
