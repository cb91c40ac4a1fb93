"""IMS: client-credential tokens, issued to the emulator's clients and read back.

A token is `emu.<claims>.<mac>`: the claims (client id `c`, IMS org `o`, expiry `e` in epoch
seconds) in URL-safe base64, signed with the store's key, so tokens survive a restart of
an emulator on the same data file and no other emulator accepts them. Tokens keep real time,
not the emulator's clock: advancing the clock by a month must not expire a client's token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

from provisioner.emulator.config import EmulatorConfig
from provisioner.emulator.errors import ApiError
from provisioner.emulator.store import Store

MAC_LENGTH = 40


def _refused(status: int, error: str, description: str = "") -> ApiError:
    return ApiError(status, error, description, shape="ims")


class Tokens:
    """Issues tokens to the configured clients and reads the claims of the tokens it
    issued. The clients, the lifetime and the store's signing key are read at each request,
    so a test can change them on a running emulator (a new key: every token is stale)."""

    def __init__(self, store: Store, config: EmulatorConfig) -> None:
        self._store = store
        self._config = config

    def issue(self, form_body: bytes) -> dict[str, Any]:
        """The answer to a client-credentials grant (the form IMS takes), or its refusal."""
        form = {k: v[-1] for k, v in parse_qs(form_body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            raise _refused(400, "unsupported_grant_type")
        client_id = form.get("client_id", "")
        client = self._config.clients.get(client_id)
        if client is None:
            raise _refused(400, "invalid_client", "invalid client_id parameter")
        secret, org = client
        if not hmac.compare_digest(form.get("client_secret", ""), secret):
            raise _refused(401, "invalid_client", "invalid client_secret parameter")
        ttl = self._config.token_ttl  # seconds, as IMS answers `expires_in`
        token = self._sign({"c": client_id, "o": org, "e": int(time.time()) + ttl})
        return {"access_token": token, "token_type": "bearer", "expires_in": ttl}

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this emulator issued and that has not expired; else None."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "emu":
            return None
        if not hmac.compare_digest(self._mac(parts[1]).encode(), parts[2].encode()):
            return None
        try:
            claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        except (binascii.Error, ValueError):
            return None
        return claims if claims["e"] > time.time() else None

    def _sign(self, claims: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"emu.{payload}.{self._mac(payload)}"

    def _mac(self, payload: str) -> str:
        return hmac.new(self._store.signing_key, payload.encode(), hashlib.sha256).hexdigest()[
            :MAC_LENGTH
        ]


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer …` header; None for any other scheme."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
