"""The hidden marker that ties a plan comment to its target.

The Markdown plan carries one HTML comment that readers do not see:

    <!-- provisioner-plan {"org": "…", "sandbox": "…", "environment": "…", "changes": 3} -->

It opens the comment: a marker anywhere else is a quotation, never the comment's own. The
JSON names the target the plan was made for; every key except the change counts is part of
that identity, so two targets (two sandboxes, two environments) keep two comments on one
pull request. `changes` is the plan's total number of changes (a boolean is accepted too).
The bare `<!-- provisioner-plan -->` is a marker without a target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MARKER_NAME = "provisioner-plan"
_MARKER = re.compile(r"<!--\s*provisioner-plan(?P<json>\s+\{.*?\})?\s*-->", re.DOTALL)
# Keys that describe the plan's content, not its target: they never separate two comments.
COUNT_KEYS = frozenset({"changes", "create", "update", "replace", "delete", "unchanged"})
# Without counts in the marker, the summary line of a plan without changes says so.
_NO_CHANGES_LINE = re.compile(r"^\W*No changes\.", re.MULTILINE)


@dataclass(frozen=True)
class PlanMarker:
    """A marker found in a text: the target it names (empty for the bare marker) and,
    when the marker tells, the plan's total number of changes."""

    target: tuple[tuple[str, str], ...]
    changes: int | None = None

    def same_target(self, other: PlanMarker) -> bool:
        return self.target == other.target


def find_marker(text: str) -> PlanMarker | None:
    """The marker that opens `text` (after any leading whitespace), or None.

    Only the opening counts: a comment that quotes a plan, or a bot's comment that carries
    one further down, is not a plan comment. A marker whose JSON does not parse as an
    object is no marker: a comment someone typed by hand must not be mistaken for ours."""
    match = _MARKER.match(text, len(text) - len(text.lstrip()))
    if match is None:
        return None
    if match.group("json") is None:
        return PlanMarker(target=())
    try:
        fields = json.loads(match.group("json"))
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    return PlanMarker(target=_identity(fields), changes=_total_changes(fields))


def plan_has_changes(text: str, marker: PlanMarker | None) -> bool:
    """Whether the Markdown plan proposes changes: from the marker's counts when it carries
    them, else from the summary line (`No changes. …`)."""
    if marker is not None and marker.changes is not None:
        return marker.changes > 0
    return _NO_CHANGES_LINE.search(text) is None


def _identity(fields: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    kept = {k: v for k, v in fields.items() if k not in COUNT_KEYS}
    return tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in kept.items()))


def _total_changes(fields: dict[str, Any]) -> int | None:
    changes = fields.get("changes")
    if isinstance(changes, bool):
        return int(changes)
    if isinstance(changes, int):
        return changes
    counts = [fields.get(k) for k in ("create", "update", "replace", "delete")]
    if any(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        return sum(c for c in counts if isinstance(c, int) and not isinstance(c, bool))
    return None
