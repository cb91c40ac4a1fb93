"""One plan comment per target: create it, update it, or leave it as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provisioner.review.comment_marker import PlanMarker, find_marker, plan_has_changes
from provisioner.review.forges import Forge, ForgeComment

Action = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True)
class PostOutcome:
    action: Action
    comment: ForgeComment | None
    # The token's identity could not be read, so no earlier comment could be told ours.
    anonymous: bool = False

    def describe(self, where: str) -> str:
        return self._what(where) + (_ANONYMOUS if self.anonymous else "")

    def _what(self, where: str) -> str:
        link = f" {self.comment.url}" if self.comment is not None and self.comment.url else ""
        if self.action == "created":
            return f"Posted the plan on {where}:{link}"
        if self.action == "updated":
            return f"Updated the plan comment on {where}:{link}"
        if self.action == "unchanged":
            return f"The plan comment on {where} is up to date; nothing written:{link}"
        return f"No changes and no earlier plan comment on {where}; nothing posted."


_ANONYMOUS = (
    " (the forge did not say whose the token is, so no earlier comment was taken as this "
    "tool's: none was edited)"
)


class MissingMarker(ValueError):
    """The text is not a Markdown plan: no marker opens it to find it again by."""


def post_plan(forge: Forge, text: str) -> PostOutcome:
    """Create, update or leave the comment of the plan's target on the forge's pull request.

    A comment is this tool's only when the token's own identity wrote it and the same
    target's marker opens it. Every workflow of a repository may post as the same bot, and
    anyone may quote a plan: a comment that carries the marker anywhere else, or that
    another identity wrote, is never edited. When the forge does not say whose the token
    is, nothing is edited and a plan with changes is posted anew. A plan without changes
    updates an earlier comment (so it no longer shows stale changes) but never starts one.
    """
    marker = find_marker(text)
    if marker is None:
        raise MissingMarker(
            "the file does not open with a <!-- provisioner-plan … --> marker; "
            "make it with `provisioner plan --format markdown`"
        )
    identity = forge.identity()
    earlier = find_own_comment(forge, marker, identity) if identity is not None else None
    anonymous = identity is None
    if earlier is None:
        if not plan_has_changes(text, marker):
            return PostOutcome("skipped", None, anonymous)
        return PostOutcome("created", forge.create(text), anonymous)
    if _same_text(earlier.body, text):
        return PostOutcome("unchanged", earlier)
    return PostOutcome("updated", forge.update(earlier, text))


def find_own_comment(forge: Forge, marker: PlanMarker, identity: str) -> ForgeComment | None:
    """The oldest comment that `identity` wrote and that opens with this target's marker."""
    for comment in forge.comments():
        if comment.author != identity:
            continue
        found = find_marker(comment.body)
        if found is not None and found.same_target(marker):
            return comment
    return None


def _same_text(posted: str, text: str) -> bool:
    # Forges may store line ends as CRLF and drop trailing whitespace.
    def normal(body: str) -> str:
        return body.replace("\r\n", "\n").strip()

    return normal(posted) == normal(text)
