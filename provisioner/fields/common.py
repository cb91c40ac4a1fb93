"""The strict base model and the field types every manifest model shares."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from provisioner.fields.printable import CONTROL_CHARACTERS, reject_control_characters
from provisioner.fields.templates import TakesVariables

# Printable, not empty, no space at either end; spaces, quotes, `;`, `=` and any letter inside.
_EDGE = f"[^\\s{CONTROL_CHARACTERS}]"
NAME_PATTERN = f"^{_EDGE}([^{CONTROL_CHARACTERS}]*{_EDGE})?$"


def to_nfc(value: Any) -> Any:
    """A pydantic before-validator: text in Unicode NFC, anything else as it is.

    An editor may save `é` as one code point or as `e` and a combining accent; both look
    the same to a reader, so a name is only ever kept, compared and sent in one form.
    """
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


# Unknown keys refused, and frozen: a loaded manifest is never changed in place. (No
# docstring: a model's docstring would become its description in the JSON Schemas.)
class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Annotated validators run last to first: control characters are reported before any
# other rule, so a name with an escape sequence is never called "empty" or "spaced". The
# text is then normalised to NFC, templates included: accounts are compared, shared and
# sent in that one form, whether written out or substituted from a variable.
AccountName = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=256, pattern=NAME_PATTERN),
    TakesVariables(),
    BeforeValidator(to_nfc),
    BeforeValidator(reject_control_characters),
    Field(description="The destination account (base connection); manifests naming it share it."),
]
