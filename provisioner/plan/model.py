"""The plan: pure data. What would change, on what, against which etag; no I/O here.

Its JSON form is contract section 4 (`format_version`, `target`, `summary`, `changes` with
`action`, `type`, `name`, `id`, `audiences`, `attributes`), with more fields beside them.
A saved plan adds a checksum of everything else, so an edited file is refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner import __version__

FORMAT_VERSION: Literal["1"] = "1"
Action = Literal["create", "update", "replace", "delete"]
ResourceType = Literal["flow", "account", "target", "source"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete")
SENSITIVE = "(sensitive)"


class Model(BaseModel):
    # Every field is always written, so the published schema marks them all required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class PlanTarget(Model):
    kind: Literal["platform", "emulator"]
    url: str
    org: str
    sandbox: str


class Summary(Model):
    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0
    unchanged: int = 0


class AudienceChanges(Model):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    update: list[str] = Field(default_factory=list)


class AttributeChanges(Model):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class FieldChange(Model):
    field: str
    before: Any = None
    after: Any = None
    sensitive: bool = False


class Change(Model):
    action: Action
    type: ResourceType
    name: str = Field(description="The dataflow's name, the account's key, or 'profile'.")
    id: str | None = Field(default=None, description="The live object's id (not for creates).")
    etag: str | None = Field(default=None, description="The etag the change was computed against.")
    audiences: AudienceChanges | None = None
    attributes: AttributeChanges | None = None
    audience_names: dict[str, str] = Field(default_factory=dict)
    fields: list[FieldChange] = Field(default_factory=list)
    patch: list[dict[str, Any]] = Field(
        default_factory=list, description="The exact JSON Patch apply sends (If-Match: etag)."
    )
    enable: bool | None = Field(default=None, description="Enable (true) or disable the flow.")
    spec: dict[str, Any] = Field(
        default_factory=dict, description="What a create makes; secrets as references only."
    )
    drift: bool = Field(default=False, description="Changed outside provisioner since applied.")
    sensitive: bool = Field(default=False, description="Touches credentials.")
    destructive: bool = Field(default=False, description="Deletes or replaces, needs consent.")
    reason: str = ""
    source: str = Field(default="", description="The manifest location, FILE:LINE:COL.")


class Plan(Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        title="provisioner plan",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://provisioner.dev/schemas/plan.schema.json",
        },
    )

    format_version: Literal["1"] = FORMAT_VERSION
    tool_version: str = __version__
    target: PlanTarget
    summary: Summary
    changes: list[Change]
    prune: bool = False
    notes: list[str] = Field(default_factory=list)
    checksum: str | None = Field(default=None, description="sha256 of the rest (saved plans).")

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    @property
    def sensitive(self) -> list[Change]:
        return [c for c in self.changes if c.sensitive]

    def change_for(self, name: str, kind: ResourceType) -> Change | None:
        """The create, update or replace of one resource of a dataflow, if planned."""
        return next(
            (c for c in self.changes if c.name == name and c.type == kind and c.action != "delete"),
            None,
        )

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def sealed(self) -> Plan:
        """A copy carrying the checksum of its own content."""
        return self.model_copy(update={"checksum": content_checksum(self)})


def content_checksum(plan: Plan) -> str:
    body = plan.model_dump(mode="json", exclude={"checksum"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def summarize(changes: list[Change], unchanged: int) -> Summary:
    counts = {action: sum(1 for c in changes if c.action == action) for action in ACTIONS}
    return Summary(**counts, unchanged=unchanged)


def plan_json_schema() -> dict[str, Any]:
    """The schema of the JSON a plan is written as (contract section 4)."""
    return Plan.model_json_schema(mode="serialization")
