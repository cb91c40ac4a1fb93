"""Renderings of a plan: pure functions of a Plan, for people, machines and pull requests."""

from __future__ import annotations

from provisioner.render.formats import PLAN_FORMATS, render_plan
from provisioner.render.gitlab import gitlab_report
from provisioner.render.json_plan import render_json
from provisioner.render.markdown import render_markdown
from provisioner.render.text import render_text

__all__ = [
    "PLAN_FORMATS",
    "gitlab_report",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_text",
]
