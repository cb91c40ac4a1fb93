"""The manifest (contract section 1) as typed models: unknown keys refused, types strict."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StringConstraints,
    Tag,
)

from provisioner.manifest.secrets import SecretRef

SOFT_LIMIT_AUDIENCES = 250
SOFT_LIMIT_ATTRIBUTES = 50

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
XDM_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"

Name = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"),
    Field(description="The dataflow's name on the platform; unique in a run, and its key."),
]
AudienceId = Annotated[
    str,
    StringConstraints(strict=True, pattern=UUID_PATTERN),
    Field(description="The audience's id (a UUID)."),
]
XdmPath = Annotated[
    str,
    StringConstraints(strict=True, pattern=XDM_PATH_PATTERN),
    Field(description="A profile attribute's XDM path, such as person.lastName."),
]
AccountName = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"),
    Field(description="The destination account (base connection); manifests naming it share it."),
]
Text = Annotated[str, StringConstraints(strict=True, max_length=4000)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KinesisCredentials(StrictModel):
    accessKeyId: SecretRef
    secretKey: SecretRef


class EventHubsCredentials(StrictModel):
    sasKeyName: SecretRef
    sasKey: SecretRef


class KinesisDestination(StrictModel):
    type: Literal["amazon-kinesis"]
    account: AccountName | None = None
    region: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$"),
        Field(description="The AWS region, such as us-east-1."),
    ]
    stream: Annotated[
        str,
        StringConstraints(strict=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$"),
        Field(description="The existing Kinesis data stream."),
    ]
    credentials: KinesisCredentials


class EventHubsDestination(StrictModel):
    type: Literal["azure-event-hubs"]
    account: AccountName | None = None
    namespace: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$"),
        Field(description="The Event Hubs namespace (6 to 50 letters, digits, hyphens)."),
    ]
    eventHub: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,254}[A-Za-z0-9])?$"),
        Field(description="The event hub inside the namespace."),
    ]
    credentials: EventHubsCredentials


DestinationModel = KinesisDestination | EventHubsDestination
Destination = Annotated[DestinationModel, Field(discriminator="type")]
DESTINATION_TYPES = ("amazon-kinesis", "azure-event-hubs")


class Audience(StrictModel):
    id: AudienceId
    name: Text | None = None
    description: Text | None = None


def _audience_form(value: Any) -> str:
    return "id" if isinstance(value, str) else "object"


AudienceEntry = Annotated[
    Annotated[AudienceId, Tag("id")] | Annotated[Audience, Tag("object")],
    Discriminator(_audience_form),
]
# Discriminator tags appear in validation error locations; they are not keys of the YAML.
LOCATION_TAGS = frozenset({"id", "object", *DESTINATION_TYPES})


class Manifest(StrictModel):
    """One destination: a dataflow, its target, its account, and what it activates."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="provisioner manifest",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://provisioner.dev/schemas/manifest.schema.json",
        },
    )

    version: Literal[1] = Field(description="The manifest format version.")
    name: Name
    description: Text = ""
    enabled: StrictBool = Field(default=True, description="Whether the dataflow is enabled.")
    destination: Destination
    audiences: list[AudienceEntry] = Field(
        default_factory=list, description="Audiences to activate; order does not matter."
    )
    attributes: list[XdmPath] = Field(
        default_factory=list, description="Profile attributes to export; order does not matter."
    )

    def audience_objects(self) -> list[Audience]:
        """Audiences with the bare-id shorthand expanded."""
        return [Audience(id=a) if isinstance(a, str) else a for a in self.audiences]

    @property
    def account_key(self) -> str:
        """The account this manifest uses: its named account, or one of its own."""
        return self.destination.account or f"{self.name}-account"


def manifest_json_schema() -> dict[str, Any]:
    return Manifest.model_json_schema()
