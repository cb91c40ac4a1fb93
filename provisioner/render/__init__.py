"""Renderings of a plan: pure functions of a Plan, for people, machines and pull requests."""

from __future__ import annotations

from provisioner.render.json_plan import render_json
from provisioner.render.markdown import render_markdown
from provisioner.render.text import render_text

__all__ = ["render_json", "render_markdown", "render_text"]
