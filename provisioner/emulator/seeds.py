"""Audience seeds: the audiences a sandbox knows, as a seed file, a command or the admin
endpoint gives them: `{sandbox: [{id, name, description?, lifecycleState?, totalProfiles?},
…]}`, checked against that shape before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIFECYCLE_STATES = ("active", "published", "draft", "inactive", "archived")
SEED_FIELDS = frozenset({"id", "name", "description", "lifecycleState", "totalProfiles"})
MAX_TOTAL_PROFILES = 10_000  # every member is exported by each run: keep them few


class SeedError(ValueError):
    """A seed (file, command or test endpoint) that does not have the documented shape."""


@dataclass(frozen=True)
class AudienceSeed:
    """One seeded audience, as a seed file gives it."""

    id: str
    name: str
    description: str = ""
    lifecycle_state: str = "active"
    total_profiles: int | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> AudienceSeed:
        if not isinstance(raw, Mapping):
            raise SeedError(f"{where}: an audience is a mapping with id and name")
        unknown = sorted(set(raw) - SEED_FIELDS)
        if unknown:
            raise SeedError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
        audience_id, name = _required_text(raw, "id", where), _required_text(raw, "name", where)
        description = raw.get("description")
        description = "" if description is None else description
        if not isinstance(description, str):
            raise SeedError(f"{where}: 'description' must be a string")
        state = raw.get("lifecycleState")
        state = "active" if state is None else state
        if state not in LIFECYCLE_STATES:
            allowed = ", ".join(LIFECYCLE_STATES)
            raise SeedError(f"{where}: 'lifecycleState' must be one of {allowed}")
        return cls(audience_id, name, description, state, _total_profiles(raw, where))


def _total_profiles(raw: Mapping[str, Any], where: str) -> int | None:
    total = raw.get("totalProfiles")
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int):
        raise SeedError(f"{where}: 'totalProfiles' must be a whole number")
    if not 0 <= total <= MAX_TOTAL_PROFILES:
        raise SeedError(f"{where}: 'totalProfiles' must be between 0 and {MAX_TOTAL_PROFILES}")
    return total


def _required_text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SeedError(f"{where}: '{key}' is required and must be a non-empty string")
    return value


def parse_seed(data: Any, sandbox: str | None = None) -> dict[str, list[AudienceSeed]]:
    """Sandbox name -> audiences, from a seed document: a mapping of sandbox names to lists
    of audiences, or (with `sandbox`) a bare list of audiences for that sandbox."""
    if isinstance(data, list) and sandbox is not None:
        data = {sandbox: data}
    if not isinstance(data, Mapping):
        raise SeedError("a seed maps sandbox names to lists of audiences")
    if sandbox is not None:
        if sandbox not in data:
            raise SeedError(f"the seed has no sandbox '{sandbox}'")
        data = {sandbox: data[sandbox]}
    seeds: dict[str, list[AudienceSeed]] = {}
    for name, audiences in data.items():
        if not isinstance(name, str) or not name:
            raise SeedError("a sandbox name must be a non-empty string")
        if audiences is None:
            audiences = []
        if not isinstance(audiences, list):
            raise SeedError(f"{name}: the audiences of a sandbox are a list")
        parsed = [AudienceSeed.parse(a, f"{name}[{i}]") for i, a in enumerate(audiences)]
        ids = [a.id for a in parsed]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise SeedError(f"{name}: audience id(s) listed twice: {', '.join(duplicates)}")
        seeds[name] = parsed
    return seeds


def load_seed_file(path: str | Path, sandbox: str | None = None) -> dict[str, list[AudienceSeed]]:
    """Read a seed file (YAML, or JSON, which is YAML too)."""
    # Imported here: only seeding needs YAML, and the emulator starts faster without it.
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SeedError(f"cannot read {path}: {error}") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        raise SeedError(f"{path} is not valid YAML: {error}") from None
    try:
        return parse_seed(data, sandbox)
    except SeedError as error:
        raise SeedError(f"{path}: {error}") from None
