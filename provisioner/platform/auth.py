"""Access tokens: IMS OAuth server-to-server, cached for the run, renewed before expiry.

`ImsAuth` is an `httpx.Auth`: it adds the bearer token to every Flow Service request and,
when the platform answers 401, renews the token once and sends the request again. The
token exchange itself is a request like any other, made by the client's one retry policy;
it changes nothing on IMS, so a lost reply is retried as a read's is.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

from provisioner.platform.failures import MalformedAnswerError
from provisioner.platform.ids import IMS_TOKEN_PATH
from provisioner.platform.redact import Redactor
from provisioner.platform.target import Target

RENEW_MARGIN = 300.0  # seconds before expiry at which a cached token is renewed
RENEW_FRACTION = 0.9  # ... or this share of its lifetime, whichever is earlier
OPERATION = "get an access token"
# A bearer token must fit in a header: visible ASCII only (RFC 6750 allows less still).
_TOKEN = re.compile(r"[\x21-\x7e]+")
_MAX_TOKEN = 16 * 1024

# Sends the OAuth form to the URL; returns the answer's parsed JSON body.
TokenFetch = Callable[[str, dict[str, str]], Any]


class TokenSource:
    """Gives the current bearer token; fetches or renews it when needed."""

    def __init__(
        self,
        target: Target,
        fetch: TokenFetch,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
    ) -> None:
        self._target = target
        self._fetch = fetch
        self._clock = clock
        self._redactor = redactor
        self._lock = threading.Lock()
        self._token = target.access_token
        self._renew_at = float("inf") if target.access_token else 0.0
        self._exchanges = 0  # exchanges finished so far, however they ended
        # The last exchange that failed (after all its tries), by its number, and why.
        self._failure: tuple[int, Exception] | None = None

    @property
    def renewable(self) -> bool:
        return not self._target.access_token

    def token(self) -> str:
        waited_from = self._exchanges
        with self._lock:
            if not self._token or self._clock() >= self._renew_at:
                self._exchange(waited_from)
            return self._token

    def renew(self, rejected: str) -> bool:
        """After a 401: fetch a new token unless another thread already has. False: cannot."""
        if not self.renewable:
            return False
        waited_from = self._exchanges
        with self._lock:
            if self._token == rejected:
                self._exchange(waited_from)
        return True

    def _exchange(self, waited_from: int) -> None:
        """Fetch a token; but when an exchange ended in failure while this thread waited for
        the lock, that failure is this thread's too. Each of a run's concurrent readers would
        otherwise go through every try again, one after the other."""
        if self._failure is not None and self._failure[0] > waited_from:
            raise self._failure[1]
        try:
            self._fetch_grant()
        except Exception as error:
            self._failure = (self._exchanges + 1, error)
            raise
        finally:
            self._exchanges += 1

    def _fetch_grant(self) -> None:
        form = {
            "client_id": self._target.client_id,
            "client_secret": self._target.client_secret,
            "grant_type": "client_credentials",
            "scope": self._target.scopes,
        }
        url = self._target.ims_url + IMS_TOKEN_PATH
        token, lifetime = read_grant(self._fetch(url, form), url)
        if self._redactor is not None:
            self._redactor.add(token)
        self._token = token
        margin = max(RENEW_MARGIN, lifetime * (1 - RENEW_FRACTION))
        self._renew_at = self._clock() + max(0.0, lifetime - margin)


def read_grant(body: Any, url: str) -> tuple[str, float]:
    """(token, lifetime in seconds) from IMS's answer, or a clear error. Never shows it."""

    def refuse(what: str) -> MalformedAnswerError:
        return MalformedAnswerError(
            f"{OPERATION}: POST {url} answered 200 with {what}; IMS (or a proxy in "
            "between) sent something unexpected, check AEP_IMS_URL"
        )

    if not isinstance(body, dict):
        raise refuse("a body that is not a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise refuse("no access_token")
    if len(token) > _MAX_TOKEN or not _TOKEN.fullmatch(token):
        raise refuse("an access_token that cannot be sent in a header (not shown)")
    lifetime = body.get("expires_in")
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        raise refuse("no usable expires_in (a positive number of seconds)")
    return token, min(float(lifetime), 10 * 365 * 86400.0)


class ImsAuth(httpx.Auth):
    """Bearer authentication from a TokenSource, renewed once when the platform says 401."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and self.tokens.renew(token):
            request.headers["Authorization"] = f"Bearer {self.tokens.token()}"
            yield request
