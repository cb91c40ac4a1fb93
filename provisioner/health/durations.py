"""Durations on the command line (`--since`, `--stale-after`, `--wait-healthy`): a whole
number and a unit, `90s`, `15m`, `2h`, `1d`; and ages as `status` shows them."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A year and a day: longer is a typo (or a unit mistaken for another), never a window of runs.
MAX_SECONDS = 366 * 86400
EXAMPLES = "such as 90s, 15m, 2h or 1d"

_DURATION = re.compile(r"(?P<number>\d+)(?P<unit>[a-zA-Z]*)")
_DECIMAL = re.compile(r"\d*[.,]\d+[a-zA-Z]*")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what to write instead."""


def parse_duration(text: str) -> int:
    """Seconds in `text`: a whole number and one of the units s, m, h, d."""
    value = text.strip()
    match = _DURATION.fullmatch(value)
    if match is None:
        if _DECIMAL.fullmatch(value):
            raise DurationError(
                f"'{value}' is not a whole number of a unit; use a smaller unit instead "
                f"({EXAMPLES})"
            )
        raise DurationError(f"'{value}' is not a duration: a whole number and a unit, {EXAMPLES}")
    number, unit = int(match["number"]), match["unit"]
    if not unit:
        raise DurationError(
            f"'{value}' has no unit: write {number}s, {number}m, {number}h or {number}d"
        )
    if unit not in UNITS:
        raise DurationError(
            f"'{value}': unknown unit '{unit}'; the units are s, m, h and d ({EXAMPLES})"
        )
    seconds = number * UNITS[unit]
    if seconds == 0:
        raise DurationError(f"'{value}' is no time at all: give a duration above 0")
    if seconds > MAX_SECONDS:
        raise DurationError(f"'{value}' is longer than {MAX_SECONDS // 86400}d, the most allowed")
    return seconds


def format_duration(seconds: int) -> str:
    """`seconds` in the largest unit that holds it whole, days from two on: 5400 as `90m`,
    86400 as `24h` (as people say it), 172800 as `2d`."""
    if seconds >= 2 * UNITS["d"] and seconds % UNITS["d"] == 0:
        return f"{seconds // UNITS['d']}d"
    for unit in ("h", "m"):
        if seconds and seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def format_age(seconds: int) -> str:
    """How long ago, compact and never negative: `45s`, `12m`, `3h05m`, `2d4h`."""
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"
