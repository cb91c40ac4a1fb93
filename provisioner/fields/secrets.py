"""Secret references: `${env:NAME}` and `${file:PATH}`.

A manifest never holds a secret, only a reference to one. `SecretRef` is the reference;
its value exists only after `resolve`, and only `reveal()` gives it out. Every other form
(str, repr, JSON, logging, pickling) shows the reference, never the value, so a secret
cannot reach a terminal, a log or a plan file by accident.

Which secrets a reference may reach is the operator's to decide, never the repository's
(anyone's pull request can edit a manifest): `SecretBoundaries` refuses the variables of CI
systems and of the tool itself, and files outside the project or behind a dot-name, unless
the job's environment allows them (PROVISIONER_ALLOW_ENV, PROVISIONER_ALLOW_FILE_DIRS).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from provisioner.errors import ProvisionerError
from provisioner.fields.reading import UnreadableFile, read_regular_file, utf8_text

REFERENCE_PATTERN = r"^\$\{(env|file):([^}]+)\}$"
_ANY_REFERENCE = re.compile(r"^\$\{(?P<kind>[^:}]*):(?P<target>[^}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REDACTED = "<redacted>"
MAX_SECRET_FILE_BYTES = 64 * 1024

SecretKind = Literal["env", "file"]

ALLOW_ENV_VARIABLE = "PROVISIONER_ALLOW_ENV"
ALLOW_FILE_DIRS_VARIABLE = "PROVISIONER_ALLOW_FILE_DIRS"
# Where CI systems keep their tokens and the tool its own settings: a manifest that could
# read them would send them to a destination of its author's choosing.
RESERVED_ENV_PREFIXES = (
    "GITHUB_",
    "ACTIONS_",
    "RUNNER_",
    "CI_",
    "GITLAB_",
    "AEP_",
    "PROVISIONER_",
)
RESERVED_ENV_NAMES = frozenset(
    {
        "CI",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "SYSTEM_ACCESSTOKEN",
    }
)
_ALLOW_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?$")


class SecretResolutionError(Exception):
    """A reference could not be turned into a value.

    A variable that is not set; a file that is missing, not a regular file (a FIFO, a device,
    a directory), over 64 KiB, or not UTF-8.
    """


class SecretRefused(SecretResolutionError):
    """The operator does not let manifests read this: a reserved or unlisted variable, a
    file outside the project, or one reached through a name that starts with `.`."""


class InvalidAllowList(ProvisionerError):
    """PROVISIONER_ALLOW_ENV or PROVISIONER_ALLOW_FILE_DIRS is malformed."""


def is_reference(value: object) -> bool:
    """Whether `value` is a well-formed secret reference: what a plan may show of a
    credential (where it comes from), as opposed to a value, which it never shows."""
    if not isinstance(value, str) or not value.startswith("${"):
        return False
    try:
        SecretRef.parse(value)
    except ValueError:
        return False
    return True


def allowed_env_names(environ: Mapping[str, str]) -> tuple[str, ...] | None:
    """PROVISIONER_ALLOW_ENV as its entries (`NAME` or `PREFIX*`), or None when it is not
    set (empty counts as not set, as for every variable of the tool)."""
    text = environ.get(ALLOW_ENV_VARIABLE, "")
    if not text.strip():
        return None
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    for entry in entries:
        if not _ALLOW_ENTRY.match(entry):
            raise InvalidAllowList(
                f"{ALLOW_ENV_VARIABLE}: '{entry}' is neither a variable name nor a PREFIX_* "
                "pattern ('*' alone would let manifests read every variable, and is refused)"
            )
    return entries


def allowed_file_dirs(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """PROVISIONER_ALLOW_FILE_DIRS as directories, symlinks resolved."""
    entries = [e.strip() for e in environ.get(ALLOW_FILE_DIRS_VARIABLE, "").split(",")]
    found = []
    for entry in filter(None, entries):
        if not os.path.isabs(entry):
            raise InvalidAllowList(
                f"{ALLOW_FILE_DIRS_VARIABLE}: '{entry}' is not an absolute path (it is "
                "comma-separated absolute directories)"
            )
        found.append(Path(os.path.realpath(entry)))
    return tuple(found)


@dataclass(frozen=True)
class SecretBoundaries:
    """What the operator lets manifests read.

    `root` is the project (the project file's directory, else the working directory):
    `${file:}` references land inside it, symlinks resolved, and never through a name that
    starts with `.` (`.git`, `.env`, `.ssh`), unless they land in one of `allowed_dirs`.
    `allowed_env` is the complete list of variables manifests may read (`NAME` or
    `PREFIX*`, case-sensitive); without it, every variable but the reserved ones.
    """

    root: Path
    allowed_env: tuple[str, ...] | None = None
    allowed_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_environ(cls, root: Path, environ: Mapping[str, str]) -> SecretBoundaries:
        return cls(
            Path(os.path.realpath(root)), allowed_env_names(environ), allowed_file_dirs(environ)
        )

    def check(self, ref: SecretRef, base_dir: Path) -> None:
        """Raises SecretRefused when the reference reaches what the operator does not
        allow; reads nothing (so `validate`, which has no secrets, checks it too)."""
        if ref.kind == "env":
            self.check_env(ref.target)
        else:
            self.file_path(ref.target, base_dir)

    def check_env(self, name: str) -> None:
        if self.allowed_env is not None:
            if not any(_allows(entry, name) for entry in self.allowed_env):
                raise SecretRefused(
                    f"variable {name} is not in {ALLOW_ENV_VARIABLE}, the variables the "
                    "operator lets manifests read"
                )
        elif name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
            raise SecretRefused(
                f"variable {name} is reserved for the CI system and the tool itself (names "
                f"starting with {', '.join(RESERVED_ENV_PREFIXES)} and a few tokens); a "
                f"manifest may read it only if the operator lists it in {ALLOW_ENV_VARIABLE}"
            )

    def file_path(self, target: str, base_dir: Path) -> Path:
        """The file a `${file:target}` reference of a manifest in `base_dir` reads, every
        symlink resolved; SecretRefused when the operator does not allow it."""
        given = Path(target).expanduser()
        joined = given if given.is_absolute() else base_dir / given
        real = Path(os.path.realpath(joined))
        if any(real.is_relative_to(allowed) for allowed in self.allowed_dirs):
            return real
        unless = f"unless the operator lists its directory in {ALLOW_FILE_DIRS_VARIABLE}"
        if not real.is_relative_to(self.root):
            linked = " (through a symbolic link)" if real != Path(os.path.abspath(joined)) else ""
            raise SecretRefused(
                f"{joined} resolves to {real}{linked}, outside the project ({self.root}); "
                f"manifests read files inside the project only, {unless}"
            )
        # The reference as written too: `.secrets/../key` goes through `.secrets` even
        # though it lands elsewhere.
        written = () if given.is_absolute() else given.parts
        names = (*written, *real.relative_to(self.root).parts)
        dotted = next((n for n in names if n.startswith(".") and n not in (".", "..")), None)
        if dotted is not None:
            raise SecretRefused(
                f"the path goes through '{dotted}'; manifests never read a file through a "
                f"name that starts with '.' (such as .git), {unless}"
            )
        return real


def _allows(entry: str, name: str) -> bool:
    return name.startswith(entry[:-1]) if entry.endswith("*") else name == entry


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

    def resolve(
        self,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
        boundaries: SecretBoundaries | None = None,
    ) -> None:
        """Load the value: an environment variable, or a file relative to `base_dir`, if
        `boundaries` allow it (by default, those of `environ` with `base_dir` as the
        project). Raises SecretRefused, or SecretResolutionError."""
        environ = os.environ if environ is None else environ
        if boundaries is None:
            boundaries = SecretBoundaries.from_environ(base_dir, environ)
        if self.kind == "env":
            boundaries.check_env(self.target)
            if self.target not in environ:
                raise SecretResolutionError(f"environment variable {self.target} is not set")
            self._value = str(environ[self.target])
            return
        self._value = self._read(base_dir, boundaries)

    def _read(self, base_dir: Path, boundaries: SecretBoundaries) -> str:
        real = boundaries.file_path(self.target, base_dir)
        given = Path(self.target).expanduser()
        shown = given if given.is_absolute() else base_dir / given
        try:
            # The path as checked, every link resolved: not followed again when opened.
            data = read_regular_file(real, MAX_SECRET_FILE_BYTES, "64 KiB", follow_symlinks=False)
            text = utf8_text(data)
        except UnreadableFile as error:
            raise SecretResolutionError(f"secret file {shown} {error}") from None
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
