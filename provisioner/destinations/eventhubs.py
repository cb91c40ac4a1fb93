"""Azure Event Hubs: an account is a SAS key on a namespace; a target is an event hub."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from provisioner.destinations.base import DestinationTypeOf, Resource
from provisioner.destinations.naming import EVENT_HUB, EVENT_HUBS_NAMESPACE
from provisioner.fields.common import AccountName, StrictModel
from provisioner.fields.secrets import SecretRef
from provisioner.fields.templates import TakesVariables


class EventHubsCredentials(StrictModel):
    sasKeyName: SecretRef
    sasKey: SecretRef


class EventHubsDestination(StrictModel):
    type: Literal["azure-event-hubs"]
    account: AccountName | None = None
    namespace: Annotated[
        str,
        EVENT_HUBS_NAMESPACE.constraints(),
        TakesVariables(),
        Field(description="The Event Hubs namespace (6 to 50 letters, digits, hyphens)."),
    ]
    eventHub: Annotated[
        str,
        EVENT_HUB.constraints(),
        TakesVariables(),
        Field(description="The event hub inside the namespace."),
    ]
    credentials: EventHubsCredentials


class EventHubs(DestinationTypeOf[EventHubsDestination]):
    type = "azure-event-hubs"
    label = "Azure Event Hubs"
    spec_id = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
    auth_spec = "Azure EventHub authentication credentials"
    credential_keys = tuple(EventHubsCredentials.model_fields)
    manifest_model = EventHubsDestination
    pattern_hints = {"namespace": EVENT_HUBS_NAMESPACE.hint, "eventHub": EVENT_HUB.hint}
    shown_fields = frozenset({"namespace", "eventHub"})

    def place(self, destination: EventHubsDestination) -> dict[str, str]:
        return {"namespace": destination.namespace}

    def target_params(self, destination: EventHubsDestination) -> dict[str, str]:
        return {"eventHubName": destination.eventHub}

    def describe(self, params: dict[str, str]) -> str:
        return f"event hub {params.get('eventHubName', '?')}"

    def manifest_fields(self, target: Resource, account: Resource) -> dict[str, str]:
        params = target.get("params") or {}
        auth = (account.get("auth") or {}).get("params") or {}
        return {
            "namespace": str(auth.get("namespace", "")),
            "eventHub": str(params.get("eventHubName", "")),
        }


EVENT_HUBS = EventHubs()
