"""The platform's time: runs are aged by the clock that started them, not this machine's.

Read from the `Date` header of one small Flow Service read; this machine's clock when the
platform gives none (or refuses the read), and the report says which was used.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Literal

from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import ApiCallError
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID

CLOCK_OPERATION = "read the platform's clock"


@dataclass(frozen=True)
class Clock:
    """The platform's time, as this machine's plus an offset read from a `Date` header."""

    offset_ms: int
    source: Literal["platform", "local"]

    def now(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


def platform_clock(client: PlatformClient) -> Clock:
    """The platform's clock, from the `Date` header of one small read; this machine's when
    the platform gives none (or refuses the read)."""
    try:
        response = client.call(CLOCK_OPERATION, "GET", f"/flowSpecs/{DESTINATION_FLOW_SPEC_ID}")
    except ApiCallError:
        return Clock(0, "local")
    received = int(time.time() * 1000)
    try:
        said = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return Clock(0, "local")
    if said.tzinfo is None:
        return Clock(0, "local")
    return Clock(int(said.timestamp() * 1000) - received, "platform")
