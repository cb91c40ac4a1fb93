"""The request bodies the tool sends to create what it manages, each with its marker.

One place, so that what apply creates, what a re-run looks for, and what tests seed as "what
apply would have made" cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from provisioner import destinations
from provisioner.plan.accounts import reference_fields
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, PROFILE_SPEC_ID, SPEC_VERSION
from provisioner.state.desired import DesiredAccount, DesiredFlow, auth_params
from provisioner.state.marker import (
    DEFAULT_PROJECT,
    PROFILE_BASE_NAME,
    PROFILE_SOURCE_NAME,
    ledger_fields,
    marker,
    scope_fields,
)

Body = dict[str, Any]


def spec_ref(spec_id: str) -> dict[str, str]:
    return {"id": spec_id, "version": SPEC_VERSION}


def profile_base_body() -> Body:
    return {
        "name": PROFILE_BASE_NAME,
        "description": marker(profile=""),
        "connectionSpec": spec_ref(PROFILE_SPEC_ID),
    }


def profile_source_body(base_id: str) -> Body:
    return {
        "name": PROFILE_SOURCE_NAME,
        "description": marker(profile=""),
        "baseConnectionId": base_id,
        "connectionSpec": spec_ref(PROFILE_SPEC_ID),
        "data": {"format": "json"},
        "params": {},
    }


def account_marker(
    account: DesiredAccount, project: str = DEFAULT_PROJECT, env: str | None = None
) -> str:
    """The account's marker: its scope, key and fingerprint, the reference each credential
    was written from (no secret: where it comes from, so that a plan can show a change of
    it), then its ledger (the names the tool gave the dataflows it imported or renamed on
    this account)."""
    return marker(
        **scope_fields(project, env),
        account=account.key,
        fingerprint=account.fingerprint or "",
        **reference_fields(account.references),
        **ledger_fields(account.ledger),
    )


def account_body(
    account: DesiredAccount, project: str = DEFAULT_PROJECT, env: str | None = None
) -> Body:
    """With the secret values: for the one request that needs them, never for output."""
    return {
        "name": account.key,
        "description": account_marker(account, project, env),
        "connectionSpec": spec_ref(account.spec_id),
        "auth": {
            "specName": destinations.by_type(account.type).auth_spec,
            "params": auth_params(account),
        },
    }


def account_update_ops(
    account: DesiredAccount,
    changed: set[str],
    project: str = DEFAULT_PROJECT,
    env: str | None = None,
) -> list[Body]:
    """What `changed` (the plan's field paths) needs, with the marker (fingerprint and
    project) in the same PATCH, so that one cannot land without the other."""
    ops: list[Body] = []
    if "credentials" in changed or any(path.startswith("params.") for path in changed):
        ops.append({"op": "replace", "path": "/auth/params", "value": auth_params(account)})
    if "name" in changed:
        ops.append({"op": "replace", "path": "/name", "value": account.key})
    marker_text = account_marker(account, project, env)
    ops.append({"op": "add", "path": "/description", "value": marker_text})
    return ops


def target_body(
    name: str,
    account_id: str,
    spec_id: str,
    params: dict[str, str],
    project: str = DEFAULT_PROJECT,
    env: str | None = None,
) -> Body:
    return {
        "name": name,
        "description": target_marker(name, project, env),
        "baseConnectionId": account_id,
        "connectionSpec": spec_ref(spec_id),
        "data": {"format": "json"},
        "params": params,
    }


def flow_body(flow: DesiredFlow, source_id: str, target_id: str) -> Body:
    """A new dataflow with empty selectors; one PATCH then activates it, as the docs show."""
    return {
        "name": flow.name,
        "description": flow.description,
        "flowSpec": spec_ref(DESTINATION_FLOW_SPEC_ID),
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "profileSelectors": {"selectors": []},
                    "segmentSelectors": {"selectors": []},
                },
            }
        ],
    }


def target_marker(name: str, project: str = DEFAULT_PROJECT, env: str | None = None) -> str:
    """What proves a dataflow is the tool's: written on its target connection when the tool
    creates it, for this project and environment."""
    return marker(**scope_fields(project, env), dataflow=name)


def applied_marker(
    name: str, digest: str, project: str = DEFAULT_PROJECT, env: str | None = None
) -> str:
    """A target connection's marker once its dataflow was applied and read back."""
    return f"{target_marker(name, project, env)}; applied={digest}"
