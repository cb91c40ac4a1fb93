"""The plan as GitLab's Terraform report, for the merge-request widget."""

from __future__ import annotations

import json

from provisioner.plan.model import Plan
from provisioner.render.lines import counts


def gitlab_report(plan: Plan) -> dict[str, int]:
    """The widget's three counts. It knows no replace: a replace counts as one create and
    one delete. Counted from the changes themselves, as every rendering counts them."""
    summary = counts(plan)
    return {
        "create": summary.create + summary.replace,
        "update": summary.update,
        "delete": summary.delete + summary.replace,
    }


def render_gitlab_report(plan: Plan) -> str:
    return json.dumps(gitlab_report(plan)) + "\n"
