"""Posting plans for review: the pull- or merge-request comment, and the GitHub Action's steps.

`post_plan` finds the comment this tool posted before for the same target (by the hidden
marker the Markdown plan carries, and by its author) and creates, updates or leaves it.
"""

from __future__ import annotations

from provisioner.review.comment_marker import PlanMarker, find_marker
from provisioner.review.context import forge_from_env
from provisioner.review.forges import Forge, ForgeComment, GitHub, GitLab
from provisioner.review.post import PostOutcome, post_plan

__all__ = [
    "Forge",
    "ForgeComment",
    "GitHub",
    "GitLab",
    "PlanMarker",
    "PostOutcome",
    "find_marker",
    "forge_from_env",
    "post_plan",
]
