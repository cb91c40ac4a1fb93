"""Pydantic validation errors of a YAML document as problems pinned to its lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from provisioner.manifest.load import PathPart, locate
from provisioner.manifest.messages import describe, suggest_key
from provisioner.manifest.model import Manifest
from provisioner.manifest.problems import Problem

# pydantic's location part for the key (rather than the value) of a mapping entry.
_KEY_PART = "[key]"


def validation_problems(
    file: Path,
    document: Any,
    error: ValidationError,
    root: type[BaseModel] = Manifest,
    note: str = "",
) -> list[Problem]:
    """One problem per error; `note` is appended to every message (such as where a value
    came from)."""
    details = error.errors(include_input=True, include_url=False)
    typos = _typo_targets(details, root)
    problems = []
    for detail in details:
        loc: tuple[PathPart, ...] = tuple(detail["loc"])
        if detail["type"] == "missing" and loc in typos:
            continue  # reported once, as the misspelt key with its suggestion
        at_key = detail["type"] == "extra_forbidden"
        if loc and loc[-1] == _KEY_PART:
            loc, at_key = loc[:-1], True
        if detail["type"] == "union_tag_invalid":
            loc += ("type",)
        location, path = locate(file, document, loc, at_key=at_key)
        problems.append(Problem("error", location, describe(detail, root) + note, path))
    return problems


def _typo_targets(details: list[ErrorDetails], root: type[BaseModel]) -> set[tuple[PathPart, ...]]:
    """Locations of missing keys that an unknown key beside them is a misspelling of."""
    targets = set()
    for detail in details:
        if detail["type"] == "extra_forbidden":
            loc = tuple(detail["loc"])
            suggestion = suggest_key(loc, root)
            if suggestion:
                targets.add((*loc[:-1], suggestion))
    return targets
