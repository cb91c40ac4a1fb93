"""The emulator's one error type, and the body each service answers it with.

Every refusal, whichever service gives it, is an `ApiError`: a status, a service code, a
message, and the shape of the body the answering service uses. The shapes are the
platform's own (the Flow Service's RFC 7807-like report, the API gateway's `{error_code,
message}`, the Audiences API's `errors` map, IMS's OAuth error) and the emulator's
`{"error": …}` for its admin endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal

Shape = Literal["flow", "gateway", "problem", "audiences", "nebula", "ims", "admin"]


class ApiError(Exception):
    """A refusal, answered with `status` and a body in `shape`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        kind: str = "",
        resource_id: str = "",
        headers: dict[str, str] | None = None,
        *,
        shape: Shape = "flow",
        title: str = "",
        value: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind
        self.resource_id = resource_id
        self.headers = headers or {}
        self.shape: Shape = shape
        self.title = title  # where the shape has a title of its own
        self.value = value  # the offending input, where the shape reports it

    def body(self, request_id: str) -> dict[str, Any]:
        return _BODIES[self.shape](self, request_id)


def _flow_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """The Flow Service's: RFC 7807-like with the legacy errorMessage fields."""
    report: dict[str, Any] = {"detailed-message": error.message, "request-id": request_id}
    if error.resource_id:
        report["id"] = error.resource_id
    if error.kind:
        report["type"] = error.kind
    title = "Resource not found" if error.status == 404 else HTTPStatus(error.status).phrase
    return {
        "type": f"https://ns.adobe.com/aep/errors/FLOW-{error.code}-{error.status}",
        "title": title,
        "status": error.status,
        "report": report,
        "errorMessage": error.message,
        "errorDetails": error.message,
    }


def _gateway_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    return {"error_code": error.code, "message": error.message}


def _problem_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    """What the platform's front answers a body it cannot read (no JSON content type)."""
    return {
        "type": "/placeholder/type/uri",
        "status": error.status,
        "title": "BadRequestError",
        "detail": error.message,
    }


def _audiences_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    return {
        "requestId": uuid.uuid4().hex,
        "errors": {str(error.status): [{"code": error.status, "message": error.message}]},
        "type": f"https://ns.adobe.com/aep/errors/UPAPI-{error.code}-{error.status}",
        "title": error.message,
        "status": error.status,
    }


def _nebula_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    """The Segmentation Service's query errors, which name the offending condition."""
    entry = {"code": error.code, "message": error.message, "value": error.value}
    return {
        "type": f"https://ns.adobe.com/aep/errors/{error.code}",
        "title": error.title,
        "status": error.status,
        "errors": {str(error.status): [entry]},
    }


def _ims_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    body = {"error": error.code}
    if error.message:
        body["error_description"] = error.message
    return body


def _admin_body(error: ApiError, _request_id: str) -> dict[str, Any]:
    return {"error": error.message}


_BODIES: dict[Shape, Callable[[ApiError, str], dict[str, Any]]] = {
    "flow": _flow_body,
    "gateway": _gateway_body,
    "problem": _problem_body,
    "audiences": _audiences_body,
    "nebula": _nebula_body,
    "ims": _ims_body,
    "admin": _admin_body,
}


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(kind: str, resource_id: str) -> ApiError:
    code = "1439" if kind == "flows" else "1101"
    message = (
        f"The requested {kind} resource {resource_id} is not found. "
        "Verify the resource ID before trying again."
    )
    return ApiError(404, code, message, kind, resource_id)


def gateway_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> ApiError:
    """Refused by the API gateway, before any service sees the request."""
    return ApiError(status, code, message, headers=headers, shape="gateway")


def throttled(retry_after: int) -> ApiError:
    """The gateway's 429, with how many whole seconds to wait."""
    return gateway_error(429, "429050", "Too many requests", {"Retry-After": str(retry_after)})


def audience_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message, shape="audiences")


def unknown_operator(operator: str, condition: str) -> ApiError:
    """A `property` filter written with an operator the Audiences API does not have: refused
    as a live platform refused it, never answered with an empty list."""
    code = "NEBULA-100058-400"
    message = f"Unknown operator '{operator}'; a property filter is attribute==value"
    return ApiError(400, code, message, shape="nebula", title="Unknown operator", value=condition)


def admin_error(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, "", message, headers=headers, shape="admin")
