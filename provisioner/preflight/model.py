"""What `check` finds, typed: one finding per destination, and the report of a run.

Outcomes: `reachable` (the destination takes the credentials and the stream or hub is
there), `cannot-tell` (the credentials are accepted, but what the policy lets us read does
not say whether the rest is right: never counted as a failure), `unreachable` (the
platform's writes would not land, with the reason).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner import __version__

FORMAT_VERSION: Literal["1"] = "1"
Outcome = Literal["reachable", "cannot-tell", "unreachable"]
OUTCOMES: tuple[Outcome, ...] = ("reachable", "cannot-tell", "unreachable")


@dataclass(frozen=True)
class Deadline:
    """When a destination's check must be over, on `time.monotonic()`'s clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self, at_least: float = 0.1) -> float:
        """Seconds left (never below `at_least`: an SDK timeout of 0 means no timeout)."""
        return max(self.at - time.monotonic(), at_least)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass(frozen=True)
class Sent:
    """A test record the destination took: where it landed when the service says (a shard
    and a sequence number), else only that the send was accepted."""

    sequence_number: str | None = None
    shard_id: str | None = None

    def words(self) -> str:
        if self.sequence_number is None:
            return "test record accepted"
        shard = f" in {self.shard_id}" if self.shard_id else ""
        return f"test record written: sequence number {self.sequence_number}{shard}"

    def as_json(self) -> dict[str, Any]:
        return {"sequence_number": self.sequence_number, "shard_id": self.shard_id}


@dataclass(frozen=True)
class Finding:
    """What one destination said: the outcome and, in words, why."""

    outcome: Outcome
    message: str
    sent: Sent | None = None

    @classmethod
    def reachable(cls, message: str, sent: Sent | None = None) -> Finding:
        return cls("reachable", message, sent)

    @classmethod
    def cannot_tell(cls, message: str) -> Finding:
        return cls("cannot-tell", message)

    @classmethod
    def unreachable(cls, message: str) -> Finding:
        return cls("unreachable", message)


# A destination's check: the destination (its credentials resolved), the deadline, and the
# bytes of a test record to send (None: read-only).
Checker = Callable[[Any, Deadline, bytes | None], Finding]


@dataclass(frozen=True)
class Service:
    """How `check` asks the service of one destination type. Each type has a module of
    this package named after it (type `some-service`: module `some_service`) that imports
    its SDK and holds its `SERVICE`."""

    target_field: str  # the manifest's field a finding points at (the stream, the hub)
    describe: Callable[[Any], str]  # the destination's target in words
    checker: Callable[[], Checker]  # a check for one run (it may share reads in the run)


@dataclass(frozen=True)
class Checked:
    """A manifest's destination and what it said."""

    name: str  # the manifest's (dataflow's) name
    source: str  # FILE:LINE:COL of the manifest's destination
    type: str  # the manifest's `destination.type`
    target: str  # in words: `stream orders in us-east-1`
    finding: Finding


@dataclass(frozen=True)
class CheckReport:
    destinations: list[Checked]
    timeout: float
    sent_test_records: bool
    count: dict[Outcome, int] = field(init=False)

    def __post_init__(self) -> None:
        counted = {o: sum(1 for c in self.destinations if c.finding.outcome == o) for o in OUTCOMES}
        object.__setattr__(self, "count", counted)

    @property
    def all_reachable(self) -> bool:
        """No destination is unreachable (one that cannot tell is not a failure)."""
        return self.count["unreachable"] == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "reachable": self.all_reachable,
            "timeout_seconds": self.timeout,
            "test_records": self.sent_test_records,
            "summary": {
                "destinations": len(self.destinations),
                "reachable": self.count["reachable"],
                "cannot_tell": self.count["cannot-tell"],
                "unreachable": self.count["unreachable"],
            },
            "destinations": [_checked_json(c) for c in self.destinations],
        }


def _checked_json(checked: Checked) -> dict[str, Any]:
    finding = checked.finding
    return {
        "name": checked.name,
        "source": checked.source,
        "type": checked.type,
        "target": checked.target,
        "outcome": finding.outcome,
        "message": finding.message,
        "test_record": finding.sent.as_json() if finding.sent is not None else None,
    }
