"""Amazon Kinesis: an account is AWS keys and a region; a target is a data stream."""

from __future__ import annotations

from provisioner.destinations.base import DestinationType, Resource
from provisioner.manifest.model import DestinationModel, KinesisDestination


class Kinesis(DestinationType):
    type = "amazon-kinesis"
    label = "Amazon Kinesis"
    spec_id = "86043421-563b-46ec-8e6c-e23184711bf6"
    auth_spec = "Aws Kinesis authentication credentials"
    credential_keys = ("accessKeyId", "secretKey")

    def place(self, destination: DestinationModel) -> dict[str, str]:
        assert isinstance(destination, KinesisDestination)
        return {"region": destination.region}

    def target_params(self, destination: DestinationModel) -> dict[str, str]:
        assert isinstance(destination, KinesisDestination)
        return {"stream": destination.stream, "region": destination.region}

    def describe(self, params: dict[str, str]) -> str:
        return f"stream {params.get('stream', '?')} in {params.get('region', '?')}"

    def manifest_fields(self, target: Resource, account: Resource) -> dict[str, str]:
        params = target.get("params") or {}
        auth = (account.get("auth") or {}).get("params") or {}
        region = params.get("region") or auth.get("region") or ""
        return {"region": str(region), "stream": str(params.get("stream", ""))}


KINESIS = Kinesis()
