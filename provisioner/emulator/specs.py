"""The connection specs and flow spec the emulator serves (ids from the public docs)."""

from __future__ import annotations

from typing import Any

from provisioner.emulator.catalog import (
    DESTINATION_FLOW_SPEC_ID,
    EVENT_HUBS_AAD_AUTH_SPEC,
    EVENT_HUBS_AUTH_SPEC,
    EVENT_HUBS_SCOPED_AAD_AUTH_SPEC,
    EVENT_HUBS_SPEC_ID,
    KINESIS_AUTH_SPEC,
    KINESIS_SPEC_ID,
    PROFILE_SPEC_ID,
    SPEC_VERSION,
)

_SCHEMA = "http://json-schema.org/draft-07/schema#"


def _string(description: str, secret: bool = False) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "string", "description": description}
    if secret:
        prop["format"] = "password"
    return prop


def _auth_spec(
    name: str,
    properties: dict[str, Any],
    required: list[str],
    one_of_required: list[list[str]] | None = None,
) -> dict[str, Any]:
    """`one_of_required`: alternatives, at least one of which must be given in full."""
    spec: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "description": f"defines auth params required for {name}",
        "properties": properties,
        "required": required,
    }
    if one_of_required:
        spec["anyOf"] = [{"required": names} for names in one_of_required]
    return {"name": name, "type": name.replace(" ", ""), "spec": spec}


def _target_spec(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "spec": {
            "$schema": _SCHEMA,
            "type": "object",
            "properties": properties,
            "required": required,
        }
    }


CONNECTION_SPECS: dict[str, dict[str, Any]] = {
    KINESIS_SPEC_ID: {
        "id": KINESIS_SPEC_ID,
        "name": "Amazon Kinesis",
        "providerId": "521eee4d-8cbe-4906-bb48-fb6bd4450033",
        "version": SPEC_VERSION,
        "authSpec": [
            _auth_spec(
                KINESIS_AUTH_SPEC,
                {
                    "accessKeyId": _string("AWS access key id"),
                    "secretKey": _string("AWS secret access key", secret=True),
                    "region": _string("AWS region"),
                    # The streaming-destinations tutorial lists "region or connectionUrl".
                    "connectionUrl": _string("Kinesis endpoint URL, instead of region"),
                },
                ["accessKeyId", "secretKey"],
                [["region"], ["connectionUrl"]],
            )
        ],
        "targetSpec": _target_spec(
            {"stream": _string("Kinesis data stream"), "region": _string("AWS region")},
            ["stream", "region"],
        ),
        "attributes": {"category": "cloudStorage", "isSource": True, "isDestination": True},
    },
    EVENT_HUBS_SPEC_ID: {
        "id": EVENT_HUBS_SPEC_ID,
        "name": "Azure Event Hubs",
        "providerId": "521eee4d-8cbe-4906-bb48-fb6bd4450033",
        "version": SPEC_VERSION,
        "authSpec": [
            _auth_spec(
                EVENT_HUBS_AUTH_SPEC,
                {
                    "sasKeyName": _string("SAS key name"),
                    "sasKey": _string("SAS key", secret=True),
                    "namespace": _string("Event Hubs namespace"),
                    # Shared Access Signature authentication: a key scoped to one hub.
                    "eventHubName": _string("event hub the SAS key is scoped to"),
                },
                ["sasKeyName", "sasKey", "namespace"],
            ),
            _auth_spec(
                EVENT_HUBS_AAD_AUTH_SPEC,
                {
                    "tenantId": _string("Azure tenant id"),
                    "clientId": _string("Azure application client id"),
                    "clientSecretValue": _string("Azure client secret", secret=True),
                    "namespace": _string("Event Hubs namespace"),
                },
                ["tenantId", "clientId", "clientSecretValue", "namespace"],
            ),
            _auth_spec(
                EVENT_HUBS_SCOPED_AAD_AUTH_SPEC,
                {
                    "tenantId": _string("Azure tenant id"),
                    "clientId": _string("Azure application client id"),
                    "clientSecretValue": _string("Azure client secret", secret=True),
                    "namespace": _string("Event Hubs namespace"),
                    "eventHubName": _string("event hub the credentials are scoped to"),
                },
                ["tenantId", "clientId", "clientSecretValue", "namespace", "eventHubName"],
            ),
        ],
        "targetSpec": _target_spec({"eventHubName": _string("event hub")}, ["eventHubName"]),
        "attributes": {"category": "cloudStorage", "isSource": True, "isDestination": True},
    },
    PROFILE_SPEC_ID: {
        "id": PROFILE_SPEC_ID,
        "name": "Profile Service",
        "providerId": "0ed90a81-07f4-4586-8190-b40eccef1c5a",
        "version": SPEC_VERSION,
        "authSpec": [],
        "attributes": {"category": "profile", "isSource": True, "isDestination": False},
    },
}

FLOW_SPECS: dict[str, dict[str, Any]] = {
    DESTINATION_FLOW_SPEC_ID: {
        "id": DESTINATION_FLOW_SPEC_ID,
        "name": "Profile based destinations",
        "providerId": "0ed90a81-07f4-4586-8190-b40eccef1c5a",
        "version": SPEC_VERSION,
        "sourceConnectionSpecIds": [PROFILE_SPEC_ID],
        "targetConnectionSpecIds": [KINESIS_SPEC_ID, EVENT_HUBS_SPEC_ID],
        "transformationSpecs": [{"name": "GeneralTransform"}],
    },
}


def secret_params(spec_id: str) -> frozenset[str]:
    """Auth params the spec marks `format: password`: never returned on a read."""
    names = set()
    for auth in CONNECTION_SPECS.get(spec_id, {}).get("authSpec", []):
        for key, prop in auth["spec"]["properties"].items():
            if prop.get("format") == "password":
                names.add(key)
    return frozenset(names)
