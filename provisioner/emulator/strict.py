"""Strict mode: only the writes Adobe's documents show, with what they require.

`DOCUMENTED_WRITES` is the one list of writes (method, path, JSON Patch op and pointer,
query) that the emulator accepts when `EmulatorConfig.strict` is on; each row names the
document that shows it. Sources:

- `destinations.yaml`: "Flow Service API - Destinations" (OpenAPI), by operationId and
  example name;
- `flow-service.yaml`: "Flow Service API - Sources" (OpenAPI), by operationId;
- the Experience Platform guides, by file: `streaming-destinations.md` (connect to
  streaming destinations and activate data), `update-destination-dataflows.md`,
  `edit-destination.md`, `labels.md` (dataflow access labels), and the Sources guide
  `sources/tutorials/api/update.md`.

A write no row matches is refused with the platform's 400, whatever lenient mode would do
with it; the emulator's own endpoints under `/emulator/` are not writes of the platform.
The flow action has two documented forms that disagree (`ActionForm`); which ones are
accepted is a switch of its own, so a client's fallback from one to the other can be tested.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.emulator.errors import bad_request
from provisioner.emulator.patch import PatchError

ActionForm = Literal["destinations", "sources", "both"]
ACTION_FORMS: tuple[ActionForm, ...] = ("destinations", "sources", "both")

DESTINATIONS_ACTION_OPS = ("enable", "disable")  # update-destination-dataflows.md
SOURCES_ACTION_OPS = ("ENABLE", "DISABLE", "FINALIZE_UPDATE", "FINALIZE", "PUBLISH")
SOURCES_ACTION_SUB_OPS = ("APPLY", "ROLLBACK", "PROGRESS")  # flow-service.yaml, required

_SELECTORS = "/transformations/0/params/{group}/selectors"
_SEGMENTS = _SELECTORS.format(group="segmentSelectors")
_PROFILES = _SELECTORS.format(group="profileSelectors")


@dataclass(frozen=True)
class Write:
    """One documented write.

    `patch` is `"op pointer"` (ops `|`-separated) for a PATCH; in the pointer `{i}` stands
    for an array index and `{key}` for one member name. `query` is `"name=v1|v2&..."`, the
    parameters the write takes (all of them required). `requires` lists the body's required
    top-level members of a create.
    """

    method: str
    path: str
    source: str
    patch: str = ""
    query: str = ""
    requires: tuple[str, ...] = ()

    @property
    def ops(self) -> frozenset[str]:
        return frozenset(self.patch.split(" ")[0].split("|")) if self.patch else frozenset()

    @property
    def pointer(self) -> str:
        return self.patch.split(" ", 1)[1] if self.patch else ""

    def matches_op(self, op: str, pointer: str) -> bool:
        if op.lower() not in self.ops:
            return False
        return _pointer_pattern(self.pointer).fullmatch(pointer) is not None


_OAS_D = "destinations.yaml"
_OAS_S = "flow-service.yaml"
_STREAM = "streaming-destinations.md"
_UPDATE_FLOWS = "update-destination-dataflows.md"
_EDIT = "edit-destination.md"
_SOURCES_UPDATE = "sources/tutorials/api/update.md"

DOCUMENTED_WRITES: tuple[Write, ...] = (
    # creates
    Write(
        "POST",
        "/connections",
        f"{_OAS_D} postTargetBaseConnection; {_OAS_S} createConnection; {_STREAM}",
        requires=("name", "connectionSpec"),
    ),
    Write(
        "POST",
        "/sourceConnections",
        f"{_OAS_D} postSourceConnection (example Create_Source_Connection_Profile_Store); "
        f"{_OAS_S} createSourceConnection; {_STREAM}",
        requires=("name", "connectionSpec"),
    ),
    Write(
        "POST",
        "/targetConnections",
        f"{_OAS_D} postTargetConnection; {_OAS_S} createTargetConnection "
        "(requires connectionSpec, data); " + _STREAM,
        requires=("connectionSpec", "data"),
    ),
    Write(
        "POST",
        "/flows",
        f"{_OAS_D} postFlow (Create_Streaming_Destination_Flow_Request); "
        f"{_OAS_S} createFlow; {_STREAM}",
        requires=(
            "name",
            "flowSpec",
            "sourceConnectionIds",
            "targetConnectionIds",
            "transformations",
        ),
    ),
    # base connections (accounts)
    Write(
        "PATCH",
        "/connections/{id}",
        f"{_OAS_D} patchConnectionById (examples Patch_Connection_Add_S3_Auth_Params, "
        f"Patch_Connection_Replace_Auth_Params, Patch_Connection_Remove_Auth_Params); {_EDIT}",
        patch="add|replace|remove /auth/params",
    ),
    Write("PATCH", "/connections/{id}", _SOURCES_UPDATE, patch="replace /name"),
    Write("PATCH", "/connections/{id}", _SOURCES_UPDATE, patch="add /description"),
    # target connections
    Write("PATCH", "/targetConnections/{id}", _EDIT, patch="replace /params"),
    Write("PATCH", "/targetConnections/{id}", _EDIT, patch="add /params/{key}"),
    # dataflows
    Write("PATCH", "/flows/{id}", _UPDATE_FLOWS, patch="replace /name"),
    Write("PATCH", "/flows/{id}", _UPDATE_FLOWS, patch="replace /description"),
    Write("PATCH", "/flows/{id}", _SOURCES_UPDATE, patch="add /description"),
    Write(
        "PATCH",
        "/flows/{id}",
        f"{_OAS_D} patchFlowById (examples Patch_Batch_Flow_*); {_STREAM}; {_UPDATE_FLOWS}",
        patch=f"add {_SEGMENTS}/-",
    ),
    Write("PATCH", "/flows/{id}", _UPDATE_FLOWS, patch=f"replace|remove {_SEGMENTS}/{{i}}"),
    Write(
        "PATCH",
        "/flows/{id}",
        f"{_OAS_D} patchFlowById (example Patch_Profile_Selectors); {_STREAM}; {_UPDATE_FLOWS}",
        patch=f"add {_PROFILES}/-",
    ),
    Write(
        "PATCH",
        "/flows/{id}",
        f"{_OAS_D} patchFlowById (example Patch_Profile_Selectors); {_UPDATE_FLOWS}",
        patch=f"remove {_PROFILES}/{{i}}",
    ),
    Write(
        "PATCH",
        "/flows/{id}",
        f"{_OAS_D} patchFlowById (example Patch_Source_Connection)",
        patch="replace /sourceConnectionIds",
    ),
    Write("PATCH", "/flows/{id}", "labels.md", patch="add /labels"),
    Write(
        "PATCH",
        "/flows/{id}",
        f"{_OAS_D} patchFlowById (example Patch_Dataset_Schedule_Params)",
        patch="replace /scheduleParams",
    ),
    Write("PATCH", "/flows/{id}", _SOURCES_UPDATE, patch="replace /scheduleParams/frequency"),
    *(
        Write(
            "PATCH",
            "/flows/{id}",
            f"{_OAS_D} patchFlowById (example Patch_{example})",
            patch=f"add /transformations/0/params/{member}",
        )
        for example, member in (
            ("Profile_Mapping", "profileMapping"),
            ("Primary_Fields", "primaryFields"),
            ("Mandatory_Fields", "mandatoryFields"),
        )
    ),
    # the flow action, in its two documented forms
    Write(
        "POST",
        "/flows/{id}/action",
        f"{_UPDATE_FLOWS} (the Destinations form: lower-case op, no subOp)",
        query="op=" + "|".join(DESTINATIONS_ACTION_OPS),
    ),
    Write(
        "POST",
        "/flows/{id}/action",
        f"{_OAS_S} postStateTransition (the Sources form: op and subOp both required)",
        query="op=" + "|".join(SOURCES_ACTION_OPS) + "&subOp=" + "|".join(SOURCES_ACTION_SUB_OPS),
    ),
    # deletes
    Write(
        "DELETE",
        "/connections/{id}",
        f"{_OAS_D} deleteConnectionById; {_OAS_S} deleteConnection; delete-destination-account.md",
    ),
    Write(
        "DELETE",
        "/sourceConnections/{id}",
        f"{_OAS_D} deleteSourceConnectionById; {_OAS_S} deleteSourceConnection",
    ),
    Write(
        "DELETE",
        "/targetConnections/{id}",
        f"{_OAS_D} deleteTargetConnectionById; {_OAS_S} deleteTargetConnection",
    ),
    Write(
        "DELETE",
        "/flows/{id}",
        f"{_OAS_D} deleteFlowById; {_OAS_S} deleteByFlow; delete-destination-dataflow.md",
    ),
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_write(
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: Any,
    extra: Iterable[Write] = (),
) -> None:
    """Refuse (400) a Flow Service write no document shows. `path` is relative to the
    Flow Service base, such as `/flows/ID`; `body` is the parsed JSON body or None.
    `extra` are further writes to accept, beyond the documented ones."""
    template = path_template(path)
    rows = [w for w in (*DOCUMENTED_WRITES, *extra) if (w.method, w.path) == (method, template)]
    if not rows:
        raise bad_request(
            "1400", f"{method} {template} is not a documented write of the Flow Service"
        )
    if template.endswith("/action"):
        return  # the action's parameters are checked by check_action
    unknown = sorted(query)
    if unknown:
        raise bad_request(
            "1400",
            f"{method} {template} takes no query parameters; not documented: {', '.join(unknown)}",
        )
    if method == "PATCH":
        _check_patch(template, body, rows)
    elif method == "POST":
        _check_create(template, body, rows)


def check_action(query: dict[str, list[str]], form: ActionForm, strict: bool) -> None:
    """The flow action's parameters, as the chosen documented form(s) take them.

    Lenient and `both`: anything goes (the op is matched case-insensitively). Otherwise the
    request must be exactly one accepted form; the refusal names `op` and `subOp`, so a
    client can tell the form was refused and retry in the other.
    """
    if not strict and form == "both":
        return
    unknown = sorted(set(query) - {"op", "subOp"})
    if strict and unknown:
        raise bad_request(
            "1400", f"the flow action takes op and subOp only; not documented: {', '.join(unknown)}"
        )
    ops = query.get("op", [])
    sub_ops = [v for value in query.get("subOp", []) for v in value.split(",") if v]
    as_destinations = len(ops) == 1 and ops[0] in DESTINATIONS_ACTION_OPS and not sub_ops
    as_sources = (
        len(ops) == 1
        and ops[0] in SOURCES_ACTION_OPS
        and bool(sub_ops)
        and all(s in SOURCES_ACTION_SUB_OPS for s in sub_ops)
    )
    accepted = {"destinations": as_destinations, "sources": as_sources}
    if form == "both" and (as_destinations or as_sources):
        return
    if form != "both" and accepted[form]:
        return
    raise bad_request("1400", _action_refusal(form, ops, sub_ops))


def _action_refusal(form: ActionForm, ops: list[str], sub_ops: list[str]) -> str:
    got = f"got op={','.join(ops) or '(none)'}, subOp={','.join(sub_ops) or '(none)'}"
    destinations = f"op={'|'.join(DESTINATIONS_ACTION_OPS)} without subOp"
    sources = f"op={'|'.join(SOURCES_ACTION_OPS)} with subOp={'|'.join(SOURCES_ACTION_SUB_OPS)}"
    wanted = {"destinations": destinations, "sources": sources}.get(
        form, f"{destinations}, or {sources}"
    )
    return f"Invalid query parameters op and subOp: the flow action takes {wanted} ({got})"


def path_template(path: str) -> str:
    """`/flows/ID/action` -> `/flows/{id}/action`; a trailing slash is ignored."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2:
        parts[1] = "{id}"
    return "/" + "/".join(parts)


def _check_patch(template: str, body: Any, rows: list[Write]) -> None:
    if not isinstance(body, list):
        return  # the generic checks answer an empty or malformed body
    for operation in body:
        if not isinstance(operation, dict):
            return
        op, pointer = str(operation.get("op", "")), str(operation.get("path", ""))
        if not any(row.matches_op(op, pointer) for row in rows):
            raise PatchError(
                f"'{op} {pointer}' is not a documented patch of {template.split('/')[1]}"
            )
        if "value" not in operation:
            # Both OpenAPI documents mark `value` required, even for remove.
            raise PatchError(f"Missing field \"value\" in '{op} {pointer}'")


def _check_create(template: str, body: Any, rows: list[Write]) -> None:
    if not isinstance(body, dict):
        return
    required = {name for row in rows for name in row.requires}
    missing = sorted(name for name in required if name not in body)
    if missing:
        raise bad_request("1400", f"{', '.join(missing)} is required to create {template[1:]}")


_PLACEHOLDERS = {"{i}": "(0|[1-9][0-9]*)", "{key}": "[^/]+"}


def _pointer_pattern(pointer: str) -> re.Pattern[str]:
    pattern = re.escape(pointer)
    for placeholder, regex in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), regex)
    return re.compile(pattern)
