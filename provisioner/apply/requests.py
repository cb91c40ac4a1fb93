"""The request bodies the tool sends to create what it manages, each with its marker.

One place, so that what apply creates, what a re-run looks for, and what tests seed as "what
apply would have made" cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from provisioner import destinations
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, PROFILE_SPEC_ID, SPEC_VERSION
from provisioner.state.desired import DesiredAccount, DesiredFlow, auth_params
from provisioner.state.marker import PROFILE_BASE_NAME, PROFILE_SOURCE_NAME, marker

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


def account_marker(account: DesiredAccount) -> str:
    return marker(account=account.key, fingerprint=account.fingerprint or "")


def account_body(account: DesiredAccount) -> Body:
    """With the secret values: for the one request that needs them, never for output."""
    return {
        "name": account.key,
        "description": account_marker(account),
        "connectionSpec": spec_ref(account.spec_id),
        "auth": {
            "specName": destinations.by_type(account.type).auth_spec,
            "params": auth_params(account),
        },
    }


def account_update_ops(account: DesiredAccount) -> list[Body]:
    """New credentials and their fingerprint, in one PATCH (so one cannot land alone)."""
    return [
        {"op": "replace", "path": "/auth/params", "value": auth_params(account)},
        {"op": "add", "path": "/description", "value": account_marker(account)},
    ]


def target_body(name: str, account_id: str, spec_id: str, params: dict[str, str]) -> Body:
    return {
        "name": name,
        "description": marker(dataflow=name),
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


def applied_marker(name: str, digest: str) -> str:
    """A target connection's marker once its dataflow was applied and read back."""
    return marker(dataflow=name, applied=digest)
