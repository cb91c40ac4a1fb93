"""Azure Event Hubs: an account is a SAS key on a namespace; a target is an event hub."""

from __future__ import annotations

from provisioner.destinations.base import DestinationType, Resource
from provisioner.manifest.model import DestinationModel, EventHubsDestination


class EventHubs(DestinationType):
    type = "azure-event-hubs"
    label = "Azure Event Hubs"
    spec_id = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
    auth_spec = "Azure EventHub authentication credentials"
    credential_keys = ("sasKeyName", "sasKey")

    def place(self, destination: DestinationModel) -> dict[str, str]:
        assert isinstance(destination, EventHubsDestination)
        return {"namespace": destination.namespace}

    def target_params(self, destination: DestinationModel) -> dict[str, str]:
        assert isinstance(destination, EventHubsDestination)
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
