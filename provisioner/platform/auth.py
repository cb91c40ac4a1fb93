"""Access tokens: IMS OAuth server-to-server, cached for the run, renewed before expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from provisioner.platform.ids import IMS_TOKEN_PATH
from provisioner.platform.target import Target

RENEW_MARGIN = 300.0  # seconds before expiry at which a cached token is renewed


class TokenSource:
    """Gives the current bearer token; fetches or renews it when needed."""

    def __init__(
        self,
        target: Target,
        fetch: Callable[[str, dict[str, str]], httpx.Response],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token = target.access_token
        self._renew_at = float("inf") if target.access_token else 0.0

    @property
    def renewable(self) -> bool:
        return not self._target.access_token

    def token(self) -> str:
        with self._lock:
            if not self._token or self._clock() >= self._renew_at:
                self._exchange()
            return self._token

    def renew(self, rejected: str) -> bool:
        """After a 401: fetch a new token unless another thread already has. False: cannot."""
        if not self.renewable:
            return False
        with self._lock:
            if self._token == rejected:
                self._exchange()
        return True

    def _exchange(self) -> None:
        form = {
            "client_id": self._target.client_id,
            "client_secret": self._target.client_secret,
            "grant_type": "client_credentials",
            "scope": self._target.scopes,
        }
        body = self._fetch(self._target.ims_url + IMS_TOKEN_PATH, form).json()
        lifetime = float(body["expires_in"])  # seconds (the OAuth S2S exchange)
        self._token = str(body["access_token"])
        self._renew_at = self._clock() + max(0.0, min(lifetime - RENEW_MARGIN, lifetime * 0.9))
