"""One plan comment per target: create it, update it, or leave it as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provisioner.review.forges import Forge, ForgeComment
from provisioner.review.marker import PlanMarker, find_marker, plan_has_changes

Action = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True)
class PostOutcome:
    action: Action
    comment: ForgeComment | None

    def describe(self, where: str) -> str:
        link = f" {self.comment.url}" if self.comment is not None and self.comment.url else ""
        if self.action == "created":
            return f"Posted the plan on {where}:{link}"
        if self.action == "updated":
            return f"Updated the plan comment on {where}:{link}"
        if self.action == "unchanged":
            return f"The plan comment on {where} is up to date; nothing written:{link}"
        return f"No changes and no earlier plan comment on {where}; nothing posted."


class MissingMarker(ValueError):
    """The text is not a Markdown plan: it carries no marker to find it again by."""


def post_plan(forge: Forge, text: str) -> PostOutcome:
    """Create, update or leave the comment of the plan's target on the forge's pull request.

    Only comments that carry the same target's marker and were written by the token's own
    user are candidates. A plan without changes updates an earlier comment (so it no longer
    shows stale changes) but never starts a new one.
    """
    marker = find_marker(text)
    if marker is None:
        raise MissingMarker(
            "the file carries no <!-- provisioner-plan … --> marker; "
            "make it with `provisioner plan --format markdown`"
        )
    earlier = find_own_comment(forge, marker)
    if earlier is None:
        if not plan_has_changes(text, marker):
            return PostOutcome("skipped", None)
        return PostOutcome("created", forge.create(text))
    if _same_text(earlier.body, text):
        return PostOutcome("unchanged", earlier)
    return PostOutcome("updated", forge.update(earlier, text))


def find_own_comment(forge: Forge, marker: PlanMarker) -> ForgeComment | None:
    """The oldest of our comments for this target; failing that, for a plan with a target,
    the oldest of our comments with the bare marker of earlier versions (taken over, so it
    carries the target from then on)."""
    own = forge.own_authors()
    legacy: ForgeComment | None = None
    for comment in forge.comments():
        if comment.author not in own:
            continue
        found = find_marker(comment.body)
        if found is None:
            continue
        if found.same_target(marker):
            return comment
        if legacy is None and marker.targeted and not found.targeted:
            legacy = comment
    return legacy


def _same_text(posted: str, text: str) -> bool:
    # Forges may store line ends as CRLF and drop trailing whitespace.
    def normal(body: str) -> str:
        return body.replace("\r\n", "\n").strip()

    return normal(posted) == normal(text)
