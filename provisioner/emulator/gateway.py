"""The API gateway in front of the Flow Service and the Audiences API: who is calling, in
which sandbox, with the gateway's own refusals (`{error_code, message}`) for a request
whose token, API key or org header is missing or wrong."""

from __future__ import annotations

from provisioner.emulator.errors import bad_request, gateway_error
from provisioner.emulator.ims import bearer_token
from provisioner.emulator.messages import Request
from provisioner.emulator.parts import Parts
from provisioner.emulator.resources import Caller
from provisioner.emulator.sandboxes import unknown


def admit(parts: Parts, request: Request) -> Caller:
    """The caller a request comes from, once its credentials and sandbox check out."""
    authorization = request.headers.get("authorization", "")
    if not authorization:
        raise gateway_error(403, "403010", "Oauth token is missing.")
    token = bearer_token(authorization)
    claims = parts.tokens.claims(token) if token is not None else None
    if claims is None:
        raise gateway_error(401, "401013", "Oauth token is not valid")
    api_key = request.headers.get("x-api-key")
    if not api_key:
        raise gateway_error(403, "403000", "Api Key is required")
    if api_key != claims["c"]:
        raise gateway_error(403, "403003", "Api Key is invalid")
    org = request.headers.get("x-gw-ims-org-id")
    if not org:
        raise gateway_error(400, "400003", "Missing header")
    if org != claims["o"]:
        raise gateway_error(403, "403025", "Profile is not valid")
    return Caller(claims["c"], org, _sandbox(parts, request))


def _sandbox(parts: Parts, request: Request) -> str:
    sandbox = request.headers.get("x-sandbox-name")
    if not sandbox:
        if parts.config.missing_sandbox == "error":
            raise bad_request("2105", "The header x-sandbox-name is missing in the request")
        sandbox = "prod"
    if sandbox not in parts.config.sandboxes and not parts.sandboxes.exists(sandbox):
        raise unknown(sandbox, parts.config.unknown_sandbox_status)
    return sandbox


def client_of(parts: Parts, request: Request) -> str:
    """Whose quota a request counts against: the IMS client of its token, or else its API
    key (a request with neither shares one anonymous quota)."""
    token = bearer_token(request.headers.get("authorization", ""))
    claims = parts.tokens.claims(token) if token else None
    if claims is not None:
        return str(claims["c"])
    return request.headers.get("x-api-key", "")
