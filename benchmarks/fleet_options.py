"""What one run of the fleet benchmark is: the fleet's size and shape, the latency it is
served with, the storm's settings, and the steps to measure."""

from __future__ import annotations

from dataclasses import dataclass

HELP_RUNS = 7

STEPS = frozenset({"plan", "baseline", "apply", "storm", "quota", "status", "help"})


@dataclass(frozen=True)
class Options:
    flows: int = 1000
    latency_ms: float = 50.0
    accounts: int = 10
    audiences: int = 5
    attributes: int = 3
    storm_rate: float = 0.3
    retry_after: int = 1
    timeout: float = 900.0  # seconds, per step
    help_runs: int = HELP_RUNS
    steps: frozenset[str] = STEPS
