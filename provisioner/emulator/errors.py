"""Error responses in the platform's documented body formats."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """A Flow Service error: RFC 7807-like with the legacy errorMessage fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        kind: str = "",
        resource_id: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind
        self.resource_id = resource_id
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        report: dict[str, Any] = {"detailed-message": self.message, "request-id": request_id}
        if self.resource_id:
            report["id"] = self.resource_id
        if self.kind:
            report["type"] = self.kind
        return {
            "type": f"https://ns.adobe.com/aep/errors/FLOW-{self.code}-{self.status}",
            "title": "Resource not found" if self.status == 404 else HTTPStatus(self.status).phrase,
            "status": self.status,
            "report": report,
            "errorMessage": self.message,
            "errorDetails": self.message,
        }


class GatewayError(ApiError):
    """An API gateway error, in the gateway's own `{error_code, message}` shape."""

    def body(self, request_id: str) -> dict[str, Any]:
        return {"error_code": self.code, "message": self.message}


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(kind: str, resource_id: str) -> ApiError:
    code = "1439" if kind == "flows" else "1101"
    message = (
        f"The requested {kind} resource {resource_id} is not found. "
        "Verify the resource ID before trying again."
    )
    return ApiError(404, code, message, kind, resource_id)
