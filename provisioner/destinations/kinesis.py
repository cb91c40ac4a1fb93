"""Amazon Kinesis: an account is AWS keys and a region; a target is a data stream."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from provisioner.destinations.base import DestinationTypeOf, Resource
from provisioner.destinations.naming import AWS_REGION, KINESIS_STREAM, Finding, region_finding
from provisioner.fields.common import AccountName, StrictModel
from provisioner.fields.secrets import SecretRef
from provisioner.fields.templates import TakesVariables


class KinesisCredentials(StrictModel):
    accessKeyId: SecretRef
    secretKey: SecretRef


class KinesisDestination(StrictModel):
    type: Literal["amazon-kinesis"]
    account: AccountName | None = None
    region: Annotated[
        str,
        AWS_REGION.constraints(),
        TakesVariables(),
        Field(description="The AWS region, such as us-east-1."),
    ]
    stream: Annotated[
        str,
        KINESIS_STREAM.constraints(),
        TakesVariables(),
        Field(description="The existing Kinesis data stream."),
    ]
    credentials: KinesisCredentials


class Kinesis(DestinationTypeOf[KinesisDestination]):
    type = "amazon-kinesis"
    label = "Amazon Kinesis"
    spec_id = "86043421-563b-46ec-8e6c-e23184711bf6"
    auth_spec = "Aws Kinesis authentication credentials"
    credential_keys = tuple(KinesisCredentials.model_fields)
    manifest_model = KinesisDestination
    pattern_hints = {"region": AWS_REGION.hint, "stream": KINESIS_STREAM.hint}
    shown_fields = frozenset({"region", "stream"})

    def place(self, destination: KinesisDestination) -> dict[str, str]:
        return {"region": destination.region}

    def target_params(self, destination: KinesisDestination) -> dict[str, str]:
        return {"stream": destination.stream, "region": destination.region}

    def describe(self, params: dict[str, str]) -> str:
        return f"stream {params.get('stream', '?')} in {params.get('region', '?')}"

    def manifest_fields(self, target: Resource, account: Resource) -> dict[str, str]:
        params = target.get("params") or {}
        auth = (account.get("auth") or {}).get("params") or {}
        region = params.get("region") or auth.get("region") or ""
        return {"region": str(region), "stream": str(params.get("stream", ""))}

    def offline_findings(self, destination: KinesisDestination) -> list[Finding]:
        finding = region_finding("region", destination.region)
        return [finding] if finding else []


KINESIS = Kinesis()
