"""`${var:NAME}` references: their syntax, and the fields that may hold them.

A field that takes variables accepts, at load time, either a value in its own format or a
text holding well-formed references; its format is checked once the references have been
replaced by an environment's values (see `provisioner.manifest.variables`). Which fields
take variables is read from the models themselves (`variable_fields`), so the manifest's
list of them follows the destination types registered.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
_VARIABLE_NAME = re.compile(VARIABLE_NAME_PATTERN)
_OPENING = re.compile(r"\$\{var:")
_REFERENCE = re.compile(r"\$\{var:(?P<name>[^}]*)\}")
_SECRET_REFERENCE = re.compile(r"\$\{(env|file):")
# A text that holds at least one reference, for editors' JSON Schema checks.
TEMPLATE_PATTERN = r"\$\{var:[A-Za-z_][A-Za-z0-9_-]*\}"
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


def refusing_variables(allowed_in: str) -> Callable[[Any], Any]:
    """A before-validator for fields that must be the same in every environment; its error
    says where variables are allowed (`allowed_in`, such as "description and …")."""

    def reject_variables(value: Any) -> Any:
        if isinstance(value, str) and has_variables(value):
            raise _invalid(f"variables are not allowed here; only in {allowed_in}")
        return value

    return reject_variables


def variable_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` marked `TakesVariables()`, in declaration order."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if _takes_variables_marked(field.metadata) or _annotation_marked(field.annotation)
    )


def _takes_variables_marked(metadata: Iterable[Any]) -> bool:
    return any(isinstance(marker, TakesVariables) for marker in metadata)


def _annotation_marked(annotation: Any) -> bool:
    """Whether a marked type is inside `annotation` (`AccountName | None` is)."""
    if typing.get_origin(annotation) is Annotated:
        return _takes_variables_marked(annotation.__metadata__)
    return any(_annotation_marked(arg) for arg in typing.get_args(annotation))


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
