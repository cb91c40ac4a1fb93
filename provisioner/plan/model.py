"""The plan: pure, typed data. What would change, on what, against which etag; no I/O here.

Built once and never changed: every model here is frozen, so a plan is made whole (by
`plan/build.py`, `plan/destroy.py`) and a different plan is a new value (`with_changes`,
`with_inputs`, `sealed`).

Its JSON form is contract section 4 (`format_version`, `target`, `summary`, `changes` with
`action`, `type`, `name`, `id`, `audiences`, `attributes`), with more fields beside them.
Each change kind is its own model (a union discriminated by `type`), so what `apply`
consumes is exactly what the published schema describes: no change carries an untyped
object.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
)

from provisioner import __version__

FORMAT_VERSION: Literal["1"] = "1"
Action = Literal["create", "update", "replace", "delete"]
ResourceType = Literal["flow", "account", "target", "source"]
WarningKind = Literal[
    "destructive", "credentials", "drift", "duplicate", "duplicate-export", "threshold", "foreign"
]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete")
SENSITIVE = "(sensitive)"
FieldValue = str | bool | int | None
Params = dict[str, str]


class Model(BaseModel, frozen=True):
    # Every field is always written, so the published schema marks them all required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class PlanTarget(Model, frozen=True):
    kind: Literal["platform", "emulator"]
    url: str
    org: str
    sandbox: str
    environment: str | None = Field(default=None, description="The project file's environment.")
    project: str = Field(default="default", description="The ownership scope.")
    url_source: str = Field(
        default="",
        description="Where the URL came from (--platform-url, AEP_PLATFORM_URL, the project "
        "file's environment); empty for the default URL and the emulator.",
    )


class Summary(Model, frozen=True):
    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0
    unchanged: int = 0


class PlanWarning(Model, frozen=True):
    kind: WarningKind
    names: list[str] = Field(default_factory=list)
    message: str


# JSON Patch operations, typed by what the tool puts in them ---------------------------


def _is_none(value: object) -> bool:
    return value is None


def omitted_when_none() -> Any:
    """A field that defaults to None and is left out of the JSON when None, as the
    platform's JSON Patch bodies are written. Per field (not a model serializer) so that the
    published schema still types every property."""
    return Field(default=None, exclude_if=_is_none)


class Sparse(BaseModel, frozen=True):
    model_config = ConfigDict(extra="forbid")


class SegmentValue(Sparse, frozen=True):
    id: str | None = omitted_when_none()
    name: str | None = omitted_when_none()
    description: str | None = omitted_when_none()


class SegmentSelector(Sparse, frozen=True):
    type: Literal["PLATFORM_SEGMENT"] = "PLATFORM_SEGMENT"
    value: SegmentValue


class ProfileValue(Sparse, frozen=True):
    path: str | None = omitted_when_none()
    operator: Literal["EXISTS"] | None = omitted_when_none()


class ProfileSelector(Sparse, frozen=True):
    type: Literal["JSON_PATH"] = "JSON_PATH"
    value: ProfileValue


PatchValue = SegmentSelector | ProfileSelector | Params | str


class PatchOp(Sparse, frozen=True):
    op: Literal["add", "remove", "replace"]
    path: str
    value: PatchValue | None = omitted_when_none()

    def as_json(self) -> dict[str, Any]:
        """The operation as sent."""
        return self.model_dump(mode="json")


def patch_json(ops: list[PatchOp]) -> list[dict[str, Any]]:
    return [op.as_json() for op in ops]


# what a change creates -----------------------------------------------------------------


class AudienceSpec(Model, frozen=True):
    id: str
    name: str | None = None
    description: str | None = None


class FlowSpec(Model, frozen=True):
    description: str
    enabled: bool
    type: str = Field(description="The destination type, such as amazon-kinesis.")
    account: str
    target_params: Params
    audiences: list[AudienceSpec]
    attributes: list[str]


class TargetSpec(Model, frozen=True):
    type: str
    account: str
    params: Params


class AccountSpec(Model, frozen=True):
    type: str
    place: Params = Field(description="The non-secret auth params: region, or namespace.")
    credentials: Params = Field(description="Secret references only, never values.")
    base_dir: str = Field(
        description="Where ${file:} references are resolved from: the manifest's directory, "
        "relative to the working directory of the run (in a saved plan, to the project); "
        "never an absolute path."
    )
    fingerprint: str | None = None
    ledger: dict[str, str] = Field(
        default_factory=dict,
        description="Dataflow id -> the name the tool gave it (imported or renamed), "
        "recorded in the account's marker.",
    )


# changes -------------------------------------------------------------------------------


class AudienceChanges(Model, frozen=True):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    update: list[str] = Field(default_factory=list)


class AttributeChanges(Model, frozen=True):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class LiveAudience(Model, frozen=True):
    """An audience selector of the live dataflow, as read, at an index the patch removes or
    replaces: what a reader needs to see what goes (the patch's own value is a placeholder)."""

    index: int
    id: str
    name: str | None = None
    description: str | None = None


class LiveAttribute(Model, frozen=True):
    """A profile selector of the live dataflow, as read, at an index the patch removes."""

    index: int
    path: str


class FieldChange(Model, frozen=True):
    path: str
    before: FieldValue = None
    after: FieldValue = None
    sensitive: bool = False


class ChangeBase(Model, frozen=True):
    action: Action
    name: str = Field(description="The dataflow's name, the account's key, or 'profile'.")
    id: str | None = Field(default=None, description="The live object's id (not for creates).")
    etag: str | None = Field(
        default=None,
        description="The etag the change was computed against (sent as If-Match; a saved "
        "plan is never compared on it: the platform moves it on its own).",
    )
    digest: str | None = Field(
        default=None,
        description="sha256 of the live content the change was computed against: what the "
        "tool manages on the object, without the fields the platform writes on its own.",
    )
    fields: list[FieldChange] = Field(default_factory=list)
    drift: bool = Field(default=False, description="Changed outside provisioner since applied.")
    unattributed: bool = Field(
        default=False,
        description="The platform's own client wrote last: who changed it cannot be told.",
    )
    sensitive: bool = Field(default=False, description="Touches credentials.")
    destructive: bool = Field(default=False, description="Deletes or replaces, needs consent.")
    duplicate: bool = Field(default=False, description="Deletes a second copy of one key.")
    reason: str = ""
    source: str = Field(default="", description="The manifest location, FILE:LINE:COL.")


class SourceChange(ChangeBase, frozen=True):
    type: Literal["source"] = "source"
    reuse_base: str | None = Field(default=None, description="A profile base to reuse.")
    base_id: str | None = Field(default=None, description="The base a delete also removes.")


class AccountChange(ChangeBase, frozen=True):
    type: Literal["account"] = "account"
    spec: AccountSpec | None = None


class TargetChange(ChangeBase, frozen=True):
    type: Literal["target"] = "target"
    spec: TargetSpec | None = None
    patch: list[PatchOp] = Field(
        default_factory=list, description="The exact JSON Patch apply sends (If-Match: etag)."
    )


class FlowChange(ChangeBase, frozen=True):
    type: Literal["flow"] = "flow"
    spec: FlowSpec | None = None
    audiences: AudienceChanges | None = None
    attributes: AttributeChanges | None = None
    audience_names: dict[str, str] = Field(default_factory=dict)
    patch: list[PatchOp] = Field(
        default_factory=list, description="The exact JSON Patch apply sends (If-Match: etag)."
    )
    enable: bool | None = Field(default=None, description="Enable (true) or disable the flow.")
    live_audiences: list[LiveAudience] = Field(
        default_factory=list,
        description="The live audience selectors at the indices the patch removes or replaces.",
    )
    live_attributes: list[LiveAttribute] = Field(
        default_factory=list,
        description="The live profile selectors at the indices the patch removes.",
    )


Change = Annotated[
    SourceChange | AccountChange | TargetChange | FlowChange, Field(discriminator="type")
]
AnyChange = SourceChange | AccountChange | TargetChange | FlowChange


class PlanInput(Model, frozen=True):
    """One manifest file a plan was made from, and what it declares."""

    manifest: str = Field(description="Its path relative to the project root, with '/'.")
    dataflows: list[str] = Field(description="The dataflows it declares.")
    accounts: list[str] = Field(description="The accounts its dataflows use.")


class Plan(Model, frozen=True):
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
    only: list[str] = Field(default_factory=list, description="--only names; empty: all.")
    warnings: list[PlanWarning] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    inputs: list[PlanInput] = Field(
        default_factory=list, description="The manifests the plan was made from."
    )
    checksum: str | None = Field(default=None, description="sha256 of the rest (saved plans).")
    signature: str | None = Field(
        default=None, description="HMAC-SHA256 of the rest, keyed by PROVISIONER_PLAN_KEY."
    )
    _made_index: dict[tuple[str, str], AnyChange] | None = PrivateAttr(default=None)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def destructive(self) -> list[AnyChange]:
        return [c for c in self.changes if c.destructive]

    @property
    def sensitive(self) -> list[AnyChange]:
        return [c for c in self.changes if c.sensitive]

    def flow_change(self, name: str) -> FlowChange | None:
        """The create, update or replace of a dataflow's flow, if planned."""
        found = self._made().get(("flow", name))
        return found if isinstance(found, FlowChange) else None

    def target_change(self, name: str) -> TargetChange | None:
        """The create, update or replace of a dataflow's target connection, if planned."""
        found = self._made().get(("target", name))
        return found if isinstance(found, TargetChange) else None

    def _made(self) -> dict[tuple[str, str], AnyChange]:
        # Built once: apply asks for every dataflow's changes, and a scan each time made
        # that quadratic in the size of the plan.
        if self._made_index is None:
            index: dict[tuple[str, str], AnyChange] = {}
            for change in self.changes:
                if change.action != "delete":
                    index.setdefault((change.type, change.name), change)
            # A cache of the frozen changes, not part of the plan's value: pydantic lets a
            # frozen model set its private attributes; the type checker cannot tell them
            # from fields.
            self._made_index = index  # type: ignore[misc]
        return self._made_index

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def with_changes(self, changes: list[AnyChange]) -> Plan:
        """A copy holding `changes` instead (its index of them built anew)."""
        # Constructed, not copied: a copy would share the index of the changes it drops.
        values = {**dict(self), "changes": changes}
        return type(self).model_construct(self.model_fields_set | {"changes"}, **values)

    def with_inputs(self, inputs: list[PlanInput]) -> Plan:
        """A copy that lists the manifests it was made from."""
        return self.model_copy(update={"inputs": inputs})

    def sealed(self, key: bytes | None = None) -> Plan:
        """A copy carrying the checksum of its own content (and a signature, given a key)."""
        sealed = self.model_copy(update={"checksum": content_checksum(self), "signature": None})
        if not key:
            return sealed
        return sealed.model_copy(update={"signature": content_signature(sealed, key)})


def _canonical(plan: Plan, exclude: set[str]) -> bytes:
    body = plan.model_dump(mode="json", exclude=exclude)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def content_checksum(plan: Plan) -> str:
    return "sha256:" + hashlib.sha256(_canonical(plan, {"checksum", "signature"})).hexdigest()


def content_signature(plan: Plan, key: bytes) -> str:
    import hmac

    digest = hmac.new(key, _canonical(plan, {"signature"}), hashlib.sha256).hexdigest()
    return "hmac-sha256:" + digest


def unit_of(change: AnyChange) -> str:
    """What a change belongs to, as apply reports and refuses it: one dataflow (its flow and
    target connection), one account, or the sandbox's profile source."""
    if change.type == "source":
        return "profile source"
    return f"account {change.name}" if change.type == "account" else f"dataflow {change.name}"


def summarize(changes: list[AnyChange], unchanged: int) -> Summary:
    counts = {action: sum(1 for c in changes if c.action == action) for action in ACTIONS}
    return Summary(**counts, unchanged=unchanged)


def plan_json_schema() -> dict[str, Any]:
    """The schema of the JSON a plan is written as (contract section 4)."""
    return Plan.model_json_schema(mode="serialization")
