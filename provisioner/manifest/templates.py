"""`${var:NAME}` references: their syntax, and the fields that may hold them.

A field that takes variables accepts, at load time, either a value in its own format or a
text holding well-formed references; its format is checked once the references have been
replaced by an environment's values (see `provisioner.manifest.variables`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
_VARIABLE_NAME = re.compile(VARIABLE_NAME_PATTERN)
_OPENING = re.compile(r"\$\{var:")
_REFERENCE = re.compile(r"\$\{var:(?P<name>[^}]*)\}")
_SECRET_REFERENCE = re.compile(r"\$\{(env|file):")
# A text that holds at least one reference, for editors' JSON Schema checks.
TEMPLATE_PATTERN = r"\$\{var:[A-Za-z_][A-Za-z0-9_-]*\}"
VARIABLE_FIELDS_HINT = (
    "description and destination's account, region, stream, namespace and eventHub"
)
# Validation context that asks every field to check its format even where a value looks
# like a reference: a variable's value is literal text, never a reference again.
SUBSTITUTED: dict[str, Any] = {"variables": "substituted"}


def has_variables(text: str) -> bool:
    return _OPENING.search(text) is not None


def variable_names(text: str) -> Iterator[str]:
    """The names of the references in `text`, in order (repeats included)."""
    for match in _REFERENCE.finditer(text):
        yield match["name"]


def substitute(text: str, values: dict[str, str]) -> str:
    """`text` with every reference replaced; every name must be in `values`."""
    return _REFERENCE.sub(lambda match: values[match["name"]], text)


def template_error(text: str) -> str | None:
    """Why `text` is not a well-formed template, or None."""
    for opening in _OPENING.finditer(text):
        match = _REFERENCE.match(text, opening.start())
        if match is None:
            return "a ${var:NAME} reference is missing its closing brace"
        name = match["name"]
        if not name.strip():
            return "the ${var:} reference names nothing"
        if not _VARIABLE_NAME.match(name):
            return (
                f"'{name}' is not a variable name (a letter or '_', then letters, digits, "
                "'_' or '-'; at most 64)"
            )
    return None


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("variable_reference", "{message}", {"message": message})


def _takes_variables(
    value: Any, handler: core_schema.ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Any:
    substituted = (info.context or {}).get("variables") == "substituted"
    if substituted or not isinstance(value, str):
        return handler(value)
    if _SECRET_REFERENCE.search(value):
        raise _invalid(
            "${env:…} and ${file:…} references belong under credentials; "
            "a per-environment value here is written ${var:NAME}"
        )
    if not has_variables(value):
        return handler(value)
    error = template_error(value)
    if error is not None:
        raise _invalid(error)
    return value


def reject_variables(value: Any) -> Any:
    """A before-validator for fields that must be the same in every environment."""
    if isinstance(value, str) and has_variables(value):
        raise _invalid(f"variables are not allowed here; only in {VARIABLE_FIELDS_HINT}")
    return value


@dataclass(frozen=True)
class TakesVariables:
    """Marks a string field (`Annotated[str, ..., TakesVariables()]`) as taking variables."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_wrap_validator_function(_takes_variables, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        own = handler(schema)
        template = {
            "type": "string",
            "pattern": TEMPLATE_PATTERN,
            "description": "A text with ${var:NAME} references, checked once substituted.",
        }
        return {"anyOf": [own, template]}
