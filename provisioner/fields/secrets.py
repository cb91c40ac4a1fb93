"""Secret references: `${env:NAME}` and `${file:PATH}`.

A manifest never holds a secret, only a reference to one. `SecretRef` is the reference;
its value exists only after `resolve`, and only `reveal()` gives it out. Every other form
(str, repr, JSON, logging, pickling) shows the reference, never the value, so a secret
cannot reach a terminal, a log or a plan file by accident.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from provisioner.fields.reading import UnreadableFile, read_regular_file, utf8_text

REFERENCE_PATTERN = r"^\$\{(env|file):([^}]+)\}$"
_ANY_REFERENCE = re.compile(r"^\$\{(?P<kind>[^:}]*):(?P<target>[^}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REDACTED = "<redacted>"
MAX_SECRET_FILE_BYTES = 64 * 1024

SecretKind = Literal["env", "file"]


class SecretResolutionError(Exception):
    """A reference could not be turned into a value.

    A variable that is not set; a file that is missing, not a regular file (a FIFO, a device,
    a directory), over 64 KiB, or not UTF-8.
    """


class SecretRef:
    """A reference to a secret, and once resolved, its value (kept out of every output)."""

    __slots__ = ("_value", "kind", "target")

    def __init__(self, kind: SecretKind, target: str) -> None:
        self.kind: SecretKind = kind
        self.target = target
        self._value: str | None = None

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        match = _ANY_REFERENCE.match(text)
        if match is None:
            raise ValueError("expected ${KIND:NAME} with a closing brace")
        kind, target = match["kind"], match["target"].strip()
        if kind not in ("env", "file"):
            raise ValueError(f"unknown reference kind '{kind}' (env or file)")
        if not target:
            raise ValueError(f"the {kind} reference names nothing")
        if kind == "env" and not _ENV_NAME.match(target):
            raise ValueError(f"'{target}' is not a valid environment variable name")
        return cls("env" if kind == "env" else "file", target)

    @property
    def reference(self) -> str:
        return f"${{{self.kind}:{self.target}}}"

    @property
    def resolved(self) -> bool:
        return self._value is not None

    def resolve(self, base_dir: Path, environ: dict[str, str] | None = None) -> None:
        """Load the value: an environment variable, or a file relative to `base_dir`."""
        self._value = self._load(base_dir, os.environ if environ is None else environ)

    def _load(self, base_dir: Path, environ: Any) -> str:
        if self.kind == "env":
            if self.target not in environ:
                raise SecretResolutionError(f"environment variable {self.target} is not set")
            return str(environ[self.target])
        path = Path(self.target).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            text = utf8_text(read_regular_file(path, MAX_SECRET_FILE_BYTES, "64 KiB"))
        except UnreadableFile as error:
            raise SecretResolutionError(f"secret file {path} {error}") from None
        return text[:-1] if text.endswith("\n") else text

    def reveal(self) -> str:
        """The secret value, for the one request body that needs it."""
        if self._value is None:
            raise SecretResolutionError(f"{self.reference} has not been resolved")
        return self._value

    def fingerprint(self, key: bytes) -> str:
        """A keyed digest of the value: detects a rotation without storing the secret."""
        return hmac.new(key, self.reveal().encode(), hashlib.sha256).hexdigest()

    def __str__(self) -> str:
        return self.reference

    def __repr__(self) -> str:
        shown = REDACTED if self._value is not None else "unresolved"
        return f"SecretRef({self.reference!r}, value={shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretRef):
            return NotImplemented
        return (self.kind, self.target) == (other.kind, other.target)

    def __hash__(self) -> int:
        return hash((self.kind, self.target))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling keeps the reference only: a copy must resolve again to see the value.
        return (SecretRef, (self.kind, self.target))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_reference,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda ref: ref.reference
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": REFERENCE_PATTERN,
            "description": "A reference to a secret: ${env:NAME} or ${file:PATH}.",
        }


def _validate_reference(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "secret_reference",
            "must be a secret reference such as ${env:NAME} or ${file:PATH}",
        )
    if not value.startswith("${"):
        raise PydanticCustomError(
            "literal_secret",
            "a literal secret is not allowed here; reference it instead, "
            "as ${env:NAME} (an environment variable) or ${file:PATH} (a file)",
        )
    try:
        return SecretRef.parse(value)
    except ValueError as error:
        # No template context: the braces of the examples must stay literal.
        raise PydanticCustomError(
            "secret_reference",
            f"malformed secret reference: {error}; use ${{env:NAME}} or ${{file:PATH}}",
        ) from None
