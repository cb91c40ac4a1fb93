"""The manifest (contract section 1) as typed models: unknown keys refused, types strict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from provisioner import destinations
from provisioner.destinations import DestinationModel
from provisioner.errors import ProvisionerError
from provisioner.fields.common import NAME_PATTERN, StrictModel, to_nfc
from provisioner.fields.printable import PRINTABLE_PATTERN, reject_control_characters
from provisioner.fields.templates import TakesVariables, refusing_variables

SOFT_LIMIT_AUDIENCES = 250
SOFT_LIMIT_ATTRIBUTES = 50

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
XDM_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
TEXT_PATTERN = PRINTABLE_PATTERN

DESTINATION_TYPES = destinations.type_names()
# The destination fields that take `${var:}`, over every type, in registry order.
DESTINATION_VARIABLE_FIELDS = tuple(
    dict.fromkeys(field for kind in destinations.ALL for field in kind.variable_fields)
)


def _in_words(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


VARIABLE_FIELDS_HINT = f"description and destination's {_in_words(DESTINATION_VARIABLE_FIELDS)}"
_reject_variables = refusing_variables(VARIABLE_FIELDS_HINT)

# Annotated validators run last to first: control characters are reported before any
# other rule, so a name with an escape sequence is never called "empty" or "spaced". Names
# are then normalised to NFC: two spellings of one name that look the same are one name,
# and the desired state, plans and the platform only ever see that form.
Name = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=NAME_PATTERN),
    BeforeValidator(to_nfc),
    BeforeValidator(_reject_variables),
    BeforeValidator(reject_control_characters),
    Field(description="The dataflow's name on the platform; unique in a run, and its key."),
]
EarlierName = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=NAME_PATTERN),
    BeforeValidator(to_nfc),
    BeforeValidator(_reject_variables),
    BeforeValidator(reject_control_characters),
    Field(description="An earlier name of this dataflow."),
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
Text = Annotated[
    str,
    StringConstraints(strict=True, max_length=4000, pattern=TEXT_PATTERN),
    BeforeValidator(_reject_variables),
    BeforeValidator(reject_control_characters),
]
TemplatedText = Annotated[
    str,
    StringConstraints(strict=True, max_length=4000, pattern=TEXT_PATTERN),
    TakesVariables(),
    BeforeValidator(reject_control_characters),
]

# `destination:` is one of the registered types' models, told apart by `type`. The union is
# made at run time from the registry; type checkers see the interface every model has.
if TYPE_CHECKING:
    Destination = DestinationModel
else:
    Destination = Annotated[
        Union[tuple(kind.manifest_model for kind in destinations.ALL)],  # noqa: UP007
        Field(discriminator="type"),
    ]


class Audience(StrictModel):
    """An audience by id (checked to exist), or by name alone (looked up in the sandbox)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"anyOf": [{"required": ["id"]}, {"required": ["name"]}]},
    )

    id: AudienceId | None = None
    name: Text | None = Field(default=None, description="The audience's name.")
    description: Text | None = Field(default=None, description="The audience's description.")

    @model_validator(mode="after")
    def _identified(self) -> Audience:
        if self.id is None and not (self.name or "").strip():
            raise PydanticCustomError(
                "audience_unidentified",
                "an audience needs an id, or a name to look it up by in the sandbox",
            )
        return self


class IdentifiedAudience(NamedTuple):
    """An audience whose id is known: given in the manifest, or resolved from its name."""

    id: str
    name: str | None
    description: str | None


class UnresolvedAudienceError(ProvisionerError):
    """An audience given by name alone was used where its id is needed."""


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
    renamedFrom: list[EarlierName] = Field(
        default_factory=list,
        description="Earlier names of this dataflow: one managed under any of them is renamed "
        "in place, never duplicated.",
    )
    description: TemplatedText = ""
    enabled: StrictBool = Field(default=True, description="Whether the dataflow is enabled.")
    destination: Destination
    audiences: list[AudienceEntry] = Field(
        default_factory=list, description="Audiences to activate; order does not matter."
    )
    attributes: list[XdmPath] = Field(
        default_factory=list, description="Profile attributes to export; order does not matter."
    )

    def audience_entries(self) -> list[Audience]:
        """Every audience as written, the bare-id shorthand expanded; ids may be missing."""
        return [Audience(id=a) if isinstance(a, str) else a for a in self.audiences]

    def audience_objects(self) -> list[IdentifiedAudience]:
        """Every audience with its id; those given by name must have been resolved first.

        Raises UnresolvedAudienceError for an audience given by name alone: see
        `with_audience_ids`, which gives a manifest whose audiences all have ids.
        """
        identified = []
        for audience in self.audience_entries():
            if audience.id is None:
                raise UnresolvedAudienceError(
                    f"dataflow '{self.name}': audience '{audience.name}' is given by name "
                    "and was not looked up in the sandbox"
                )
            identified.append(IdentifiedAudience(audience.id, audience.name, audience.description))
        return identified

    def with_audience_ids(self, ids_by_name: Mapping[str, str]) -> Manifest:
        """A copy whose audiences given by name carry the ids found for those names."""
        entries: list[str | Audience] = []
        for entry in self.audiences:
            if isinstance(entry, Audience) and entry.id is None and entry.name is not None:
                found = ids_by_name.get(entry.name)
                if found is not None:
                    entry = entry.model_copy(update={"id": found})
            entries.append(entry)
        return self.model_copy(update={"audiences": entries})

    @property
    def account_key(self) -> str:
        """The account this manifest uses: its named account, or one of its own."""
        return self.destination.account or f"{self.name}-account"


def manifest_json_schema() -> dict[str, Any]:
    return Manifest.model_json_schema()
