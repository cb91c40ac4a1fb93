"""The one list of known conflicts between Adobe's documents and what the tool relies on.

Sources: `destinations.yaml` ("Flow Service API - Destinations") and `flow-service.yaml`
("Flow Service API - Sources"), Adobe's OpenAPI documents, by operationId; the guides by
file name (`streaming-destinations.md`, `update-destination-dataflows.md`,
`edit-destination.md`, `delete-destination-dataflow.md`, `delete-destination-account.md`,
`sources/tutorials/api/update.md`, `sources/tutorials/api/delete-dataflows.md`).

Every test that meets one of these conflicts looks it up here instead of failing on it;
`UNDOCUMENTED_TOOL_WRITES` are the writes the tool sends today that no document shows: the
contract tests accept them only as these known conflicts, and strict-mode scenarios can be
run with or without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.emulator.strict import Write


@dataclass(frozen=True)
class Conflict:
    key: str
    summary: str
    sources: str
    handling: str


KNOWN_CONFLICTS: tuple[Conflict, ...] = (
    Conflict(
        "target-description-patch",
        "apply records a drift digest with PATCH /targetConnections/{id} "
        "`replace|add /description` where the platform does not say who last wrote the flow "
        "and its target (no `updatedClient`)",
        "no document shows it: edit-destination.md shows only `replace /params` and "
        "`add /params/{key}`; flow-service.yaml patchTargetConnection shows no path",
        "accepted by the contract tests as this conflict; best effort in the tool: refused "
        "(strict emulator), it is said once and the apply still succeeds; where the platform "
        "records `updatedClient`, as the OpenAPI documents say it does, apply never sends it",
    ),
    Conflict(
        "source-description-patch",
        "import marks the profile source connection with PATCH /sourceConnections/{id} "
        "`add|replace /description`",
        "flow-service.yaml has patchSourceConnection but no document shows any of its paths",
        "as target-description-patch",
    ),
    Conflict(
        "action-op-form",
        "the flow action: the tool sends `POST /flows/{id}/action?op=enable|disable` "
        "(lower case, no subOp)",
        "update-destination-dataflows.md (lower-case op, no subOp) vs flow-service.yaml "
        "postStateTransition (`op` ENABLE|DISABLE|FINALIZE_UPDATE|FINALIZE|PUBLISH and `subOp` "
        "APPLY|ROLLBACK|PROGRESS, both required)",
        "the contract accepts either documented form, never a mix; the strict emulator's "
        "--action-form picks one to test a fallback",
    ),
    Conflict(
        "patch-status",
        "PATCH answers 200 with {id, etag}, or 202 with no body",
        "destinations.yaml patchFlowById/patchConnectionById and flow-service.yaml patchFlow "
        "(200) vs streaming-destinations.md (activation step: 202, no body)",
        "the emulator's --patch-status; test_scenarios.py::test_patch_answered_202_without_a_body",
    ),
    Conflict(
        "delete-status",
        "DELETE answers 202 or 204, with no body",
        "destinations.yaml delete*ById and delete-destination-dataflow.md (202) vs "
        "flow-service.yaml deleteByFlow/deleteConnection and delete-destination-account.md (204)",
        "the emulator's --delete-status; test_scenarios.py::test_patch_answered_202_without_a_body",
    ),
    Conflict(
        "patch-op-case",
        "JSON Patch op names in lower case (`add`) or capitals (`ADD`)",
        "destinations.yaml PatchFlowItem/PatchConnectionItem enum add|replace|remove and every "
        "guide vs flow-service.yaml PatchInstruction enum ADD|REPLACE|REMOVE",
        "the contract accepts either case; the tool sends lower case",
    ),
    Conflict(
        "flow-transformations-type",
        "a dataflow create's `transformations` is an array of {name, params}",
        "destinations.yaml Create_Streaming_Destination_Flow_Request types it `string` "
        "(title TBD) while requiring it; streaming-destinations.md and flow-service.yaml "
        "CreateFlowRequest show an array",
        "checked against the array form of the examples, not the `string` schema",
    ),
)

UNDOCUMENTED_TOOL_WRITES: tuple[Write, ...] = (
    Write(
        "PATCH",
        "/targetConnections/{id}",
        "known conflict target-description-patch",
        patch="add|replace /description",
    ),
    Write(
        "PATCH",
        "/sourceConnections/{id}",
        "known conflict source-description-patch",
        patch="add|replace /description",
    ),
)


def conflict(key: str) -> Conflict:
    return next(c for c in KNOWN_CONFLICTS if c.key == key)
