"""What an apply (or a destroy) did: each object of the plan, how it ended and its id.

For people, one line per object (`+ dataflow orders: created, id 7f3…`) and a last line
that counts the changes applied and the dataflows they make up; for machines, the same as
JSON (`apply --format json`, schema: `provisioner schema --apply`), with `format_version`.
Both are made from one `ApplyResult`, so they cannot disagree.

Objects are applied in parts (a dataflow with its target connection, an account, the
sandbox's profile source): a part succeeds, fails or is refused (a saved plan that a fresh
plan contradicts) as a whole, so every object of a part has the part's status.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner import __version__
from provisioner.plan.model import AnyChange, Plan, PlanTarget, unit_of
from provisioner.render.lines import SYMBOLS, TYPE_WORDS
from provisioner.render.safe import for_terminal

FORMAT_VERSION: Literal["1"] = "1"
Status = Literal["applied", "failed", "refused"]
_DONE = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}


class Model(BaseModel):
    # Every field is always written, so the published schema marks them all required.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class AppliedObject(Model):
    type: Literal["flow", "target", "account", "source"] = Field(
        description="dataflow (flow), target connection, account, or the profile source."
    )
    name: str = Field(description="The dataflow's or account's name, as in the plan.")
    action: Literal["create", "update", "replace", "delete"]
    status: Status = Field(description="How its part ended (see `part`).")
    id: str | None = Field(
        description="Its id: for a create or a replace, the new object's (null when its part "
        "failed or it could not be read back); for an update or a delete, the one changed."
    )
    previous_id: str | None = Field(description="For a replace, the id of the object replaced.")
    part: str = Field(
        description="What it is applied with, as a whole: `dataflow NAME` (the dataflow and "
        "its target connection), `account NAME`, or `profile source`."
    )


class Failure(Model):
    part: str
    refused: bool = Field(description="Refused (a saved plan a fresh plan contradicts).")
    message: str


class ApplySummary(Model):
    changes: int = Field(description="The plan's changes.")
    applied: int = Field(description="Changes in parts that succeeded.")
    dataflows: int = Field(description="Dataflows the plan changes.")
    dataflows_applied: int
    failed: int = Field(description="Parts that failed or were refused.")


class ApplyResult(Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        title="provisioner apply",
    )

    format_version: Literal["1"] = FORMAT_VERSION
    tool_version: str = __version__
    command: Literal["apply", "destroy"]
    target: PlanTarget
    succeeded: bool = Field(description="Whether every part of the plan was applied.")
    summary: ApplySummary
    objects: list[AppliedObject] = Field(description="In the plan's order.")
    failures: list[Failure]
    notes: list[str]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def apply_json_schema() -> dict[str, Any]:
    """The schema of the JSON `apply --format json` prints."""
    return ApplyResult.model_json_schema(mode="serialization")


def apply_result(
    command: Literal["apply", "destroy"],
    plan: Plan,
    failed: Mapping[str, str],
    refused: Collection[str] = (),
    created: Mapping[tuple[str, str], str] | None = None,
    notes: Collection[str] = (),
) -> ApplyResult:
    """The result of carrying out `plan`: `failed` maps each part that failed or was
    refused to why (parts in `refused` were refused); `created` the (type, name) of each
    object made to its id, as read back after the apply."""
    objects = [_object(c, failed, refused, created or {}) for c in plan.changes]
    applied = [c for c in plan.changes if unit_of(c) not in failed]
    dataflows = {c.name for c in plan.changes if c.type in ("flow", "target")}
    gone = {part.removeprefix("dataflow ") for part in failed if part.startswith("dataflow ")}
    summary = ApplySummary(
        changes=len(plan.changes),
        applied=len(applied),
        dataflows=len(dataflows),
        dataflows_applied=len(dataflows - gone),
        failed=len(failed),
    )
    failures = [Failure(part=p, refused=p in refused, message=m) for p, m in failed.items()]
    return ApplyResult(
        command=command,
        target=plan.target,
        succeeded=not failed,
        summary=summary,
        objects=objects,
        failures=failures,
        notes=list(notes),
    )


def _object(
    change: AnyChange,
    failed: Mapping[str, str],
    refused: Collection[str],
    created: Mapping[tuple[str, str], str],
) -> AppliedObject:
    part = unit_of(change)
    status: Status = "refused" if part in refused else "failed" if part in failed else "applied"
    made = change.action in ("create", "replace")
    if made:
        new_id = created.get((change.type, change.name)) if status == "applied" else None
    else:
        new_id = change.id
    return AppliedObject(
        type=change.type,
        name=change.name,
        action=change.action,
        status=status,
        id=new_id,
        previous_id=change.id if change.action == "replace" else None,
        part=part,
    )


def render_apply_json(result: ApplyResult) -> str:
    return json.dumps(result.as_json(), indent=2) + "\n"


def object_lines(result: ApplyResult) -> list[str]:
    """One line per object: `+ dataflow orders: created, id 7f3…`; `!` for one not applied."""
    return [for_terminal(_object_line(o)) for o in result.objects]


def _object_line(item: AppliedObject) -> str:
    what = "profile source connection" if item.type == "source" else TYPE_WORDS[item.type]
    name = "" if item.type == "source" else f" {item.name}"
    if item.status != "applied":
        return f"! {what}{name}: not {_DONE[item.action]} ({item.part} {item.status})"
    return f"{SYMBOLS[item.action]} {what}{name}: {_DONE[item.action]}{_ids(item)}"


def _ids(item: AppliedObject) -> str:
    if item.action == "replace":
        new = item.id or "(not read back)"
        return f", id {item.previous_id} -> {new}" if item.previous_id else f", id {new}"
    if item.id:
        return f", id {item.id}"
    return ", id not read back" if item.action == "create" else ""


def summary_line(result: ApplyResult) -> str:
    s = result.summary
    verb = "Apply" if result.command == "apply" else "Destroy"
    return (
        f"{verb} finished: {s.applied} of {s.changes} change(s) applied "
        f"({s.dataflows_applied} of {s.dataflows} dataflow(s)); {s.failed} failed."
    )
