"""Faults injected into the emulator for tests and benchmarks.

Rates apply at random (seedable); rules apply to the next matching requests, exactly,
so a test can say "lose the response of the next POST /flows" and know it happened.

Off unless asked for: while no rule, rate or latency is set, a request does not touch them
(`Faults.active`), so an emulator without faults spends nothing on them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from provisioner.emulator.catalog import FLOW_SERVICE_PATH
from provisioner.emulator.errors import ApiError, throttled
from provisioner.emulator.messages import Response

FaultAction = Literal["429", "500", "502", "503", "504", "lose", "drop"]
ACTIONS: tuple[str, ...] = ("429", "500", "502", "503", "504", "lose", "drop")


class LostResponse(Exception):
    """Raised after a request was carried out: the server closes without replying."""


@dataclass
class FaultRule:
    """Apply `action` to the next `times` requests whose method and path match.

    `path` is a Flow Service path such as `/flows` or `/connections/ID`, or any other
    path in full (IMS's `/ims/token/v3`, `/data/core/ups/audiences`): it matches that path
    and every path below it (`/flows` matches `/flows/ID/action`, not `/flowSpecs`); empty
    matches every request, token requests included. `lose` carries the request out (a
    create is committed, a token issued) and then drops the reply; `drop` drops the
    connection before anything is done; a status answers with it.
    """

    action: FaultAction
    method: str = "*"
    path: str = ""
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        relative = path.removeprefix(FLOW_SERVICE_PATH)
        below = not self.path or relative == self.path or relative.startswith(self.path + "/")
        return self.method in ("*", method) and below


@dataclass
class Faults:
    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after: int = 1
    rate_5xx: float = 0.0
    status_5xx: int = 503
    lose_create_rate: float = 0.0
    seed: int | None = None
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def active(self) -> bool:
        """Whether any fault may apply; read without the lock, as `choose` checks again."""
        rates = self.rate_429 or self.rate_5xx or self.lose_create_rate
        return bool(self.rules or rates or self.latency_ms)

    def choose(self, method: str, path: str) -> str | None:
        """The fault for this request, if any: a rule first, then the random rates."""
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.matches(method, path):
                    rule.times -= 1
                    self.rules = [r for r in self.rules if r.times > 0]
                    return rule.action
            draw = self._random.random()
            if draw < self.rate_429:
                return "429"
            if draw < self.rate_429 + self.rate_5xx:
                return str(self.status_5xx)
            if method == "POST" and self._random.random() < self.lose_create_rate:
                return "lose"
        return None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        with self._lock:
            for key, value in changes.items():
                if key == "rules":
                    self.rules = [FaultRule(**rule) for rule in value]
                elif key in self.__dataclass_fields__:
                    setattr(self, key, value)
                else:
                    raise ValueError(f"unknown fault setting '{key}'")
            if "seed" in changes:
                self._random = random.Random(self.seed)

    def add_rule(self, rule: FaultRule) -> None:
        if rule.action not in ACTIONS:
            raise ValueError(f"unknown fault action '{rule.action}'")
        with self._lock:
            self.rules.append(rule)


def inject(faults: Faults, method: str, path: str, answer: Callable[[], Response]) -> Response:
    """`answer()`, or the fault chosen for this request instead: the latency first, then a
    dropped connection (nothing done), a status (nothing done), or a lost reply (done)."""
    fault = faults.choose(method, path)
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if fault == "drop":
        raise LostResponse(path)
    if fault is not None and fault.isdigit():
        raise _fault_status(int(fault), faults.retry_after)
    response = answer()
    if fault == "lose":
        raise LostResponse(path)
    return response


def _fault_status(status: int, retry_after: int) -> ApiError:
    if status == 429:
        return throttled(retry_after)
    return ApiError(status, "1500", "The service is temporarily unavailable")
