"""Who may use the admin endpoints under `/emulator/` (`admin_routes.py` answers them).

Those endpoints inject faults, edit resources and seed data, so a served emulator reachable
by others must not hand them to anyone: they need the emulator's own client, as a bearer
token its IMS issued (`Authorization: Bearer …`) or as the client id and secret themselves
(`Authorization: Basic base64(id:secret)`). Only `/emulator/health` is open, for readiness
probes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping
from typing import Any

UNAUTHORIZED = (
    "the /emulator/ endpoints need the emulator's credentials: Authorization: Bearer TOKEN "
    "(from its IMS) or Basic CLIENT_ID:CLIENT_SECRET"
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="emulator", Basic realm="emulator"'}

Clients = Mapping[str, tuple[str, str]]  # client id -> (client secret, IMS org)
ClaimsReader = Callable[[str], "dict[str, Any] | None"]


def authorized(authorization: str, clients: Clients, read_claims: ClaimsReader) -> bool:
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        claims = read_claims(credentials.strip())
        return claims is not None and claims.get("c") in clients
    if scheme == "basic":
        return _basic_matches(credentials.strip(), clients)
    return False


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The `Authorization` header value for the admin endpoints, from the client's secret."""
    token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return f"Basic {token}"


def _basic_matches(encoded: str, clients: Clients) -> bool:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    client_id, separator, secret = decoded.partition(":")
    client = clients.get(client_id)
    return bool(separator) and client is not None and hmac.compare_digest(secret, client[0])
