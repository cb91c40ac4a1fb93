"""A plan in the format asked for on the command line: what `plan` and `show` print."""

from __future__ import annotations

from provisioner.plan.model import Plan
from provisioner.render.gitlab import render_gitlab_report
from provisioner.render.json_plan import render_json
from provisioner.render.markdown import render_markdown
from provisioner.render.text import render_text

PLAN_FORMATS = ("text", "json", "markdown", "gitlab-report")
PLAN_FORMATS_HELP = (
    "text for people, json for machines (schema: `provisioner schema --plan`), markdown for "
    "a pull-request comment, gitlab-report for GitLab's merge-request widget."
)


def render_plan(plan: Plan, output_format: str, colour: bool = False) -> str:
    """`plan` in `output_format` (one of PLAN_FORMATS); `colour` only for text."""
    if output_format == "json":
        return render_json(plan)
    if output_format == "markdown":
        return render_markdown(plan)
    if output_format == "gitlab-report":
        return render_gitlab_report(plan)
    if output_format == "text":
        return render_text(plan, colour=colour)
    raise ValueError(f"no plan format {output_format!r}")
