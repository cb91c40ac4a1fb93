"""The strict base model and the field types every manifest model shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from provisioner.fields.printable import CONTROL_CHARACTERS, reject_control_characters
from provisioner.fields.templates import TakesVariables

# Printable, not empty, no space at either end; spaces, quotes, `;`, `=` and any letter inside.
_EDGE = f"[^\\s{CONTROL_CHARACTERS}]"
NAME_PATTERN = f"^{_EDGE}([^{CONTROL_CHARACTERS}]*{_EDGE})?$"


# Unknown keys refused, and frozen: a loaded manifest is never changed in place. (No
# docstring: a model's docstring would become its description in the JSON Schemas.)
class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Annotated validators run last to first: control characters are reported before any
# other rule, so a name with an escape sequence is never called "empty" or "spaced".
AccountName = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=NAME_PATTERN),
    TakesVariables(),
    BeforeValidator(reject_control_characters),
    Field(description="The destination account (base connection); manifests naming it share it."),
]
