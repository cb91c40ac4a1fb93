"""How a platform client is made: one set of options, each with the default a run uses."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from provisioner.platform.limiter import RequestLimiter
from provisioner.platform.policy import RetryPolicy
from provisioner.platform.redact import Redactor

MAX_ANSWER_BYTES = 64 * 1024 * 1024
IDLE_TIMEOUT = 30.0  # seconds without a byte before an attempt is given up


@dataclass(frozen=True)
class ClientOptions:
    """How a client reaches the platform; every field has the default a run uses."""

    # None: the network, with the trust and proxies the environment sets
    # (provisioner.platform.network); tests and the embedded emulator give their own.
    transport: httpx.BaseTransport | None = None
    policy: RetryPolicy | None = None  # None: the client module's DEFAULT_POLICY
    idle_timeout: float = IDLE_TIMEOUT
    concurrency: int = 4  # requests in flight at most (and threads for concurrent reads)
    sleep: Callable[[float], None] = time.sleep
    redactor: Redactor | None = None  # None: the process's REDACTOR
    base_url: str | None = None  # None: the target's URL
    deadline: float | None = None  # None: PROVISIONER_REQUEST_DEADLINE, else the policy's
    max_answer_bytes: int = MAX_ANSWER_BYTES
    limiter: RequestLimiter | None = None  # None: one of the client's own
    environ: Mapping[str, str] | None = None  # None: the process's environment
