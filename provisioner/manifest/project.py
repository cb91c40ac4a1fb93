"""The project file, `provisioner.yaml` (contract section 5): scope, paths, safety, environments.

Optional: found in the working directory or its nearest parent. Validated as strictly as a
manifest, every problem pinned to its line, and all of them reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from provisioner.errors import ProvisionerError
from provisioner.fields.printable import reject_control_characters
from provisioner.fields.templates import VARIABLE_NAME_PATTERN
from provisioner.manifest.diagnose import validation_problems
from provisioner.manifest.files import PROJECT_FILE
from provisioner.manifest.load import (
    LoadedManifest,
    PathPart,
    locate,
    read_documents,
    to_plain,
)
from provisioner.manifest.problems import Location, Problem
from provisioner.manifest.variables import substitute_vars, variable_uses
from provisioner.manifest.yamlread import YamlMap
from provisioner.platform.target import (
    DEFAULT_PLATFORM_URL,
    REPOSITORY_URL_RULE,
    is_loopback,
    repository_url_refusal,
)

DEFAULT_PROJECT = "default"
PROJECT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SANDBOX_NAME_PATTERN = r"^[a-z0-9-]+$"
ENVIRONMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProjectError(ProvisionerError):
    """The project file is invalid; `problems` holds every problem found in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(problem.format() for problem in self.problems))


def _named_key(kind: str, pattern: str, rule: str) -> AfterValidator:
    """A mapping key's rule, with a message that names what the key is."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError(
                "key_name", "{message}", {"message": f"'{value}' is not {kind} ({rule})"}
            )
        return value

    return AfterValidator(check)


def _platform_url(value: str) -> str:
    """Adobe's platform over https, or loopback (the emulator), and never a user or password:
    the repository may not send the operator's token anywhere else (`repository_url_refusal`),
    so `validate` reports such a URL on its line before any run refuses it."""
    parts = urlsplit(value)
    refusal = repository_url_refusal(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        message = f"'{value}' is not an http(s) URL such as https://platform.adobe.io"
    elif parts.username is not None or parts.password is not None:
        message = "a platform URL must not hold a user or password"  # never echoed
    elif parts.scheme == "http" and not is_loopback(parts.hostname):
        message = f"plain http:// to {parts.hostname} is refused; {REPOSITORY_URL_RULE}"
    elif refusal is not None:
        message = f"'{value}' is refused: {refusal}; {REPOSITORY_URL_RULE}"
    else:
        return value
    raise PydanticCustomError("platform_url", "{message}", {"message": message})


ProjectName = Annotated[
    str,
    StringConstraints(strict=True, pattern=PROJECT_NAME_PATTERN),
    Field(
        description="The ownership scope: plan, --prune and destroy see only the dataflows "
        "this project manages. Lowercase letters, digits, '.', '_', '-'; at most 64.",
    ),
]
SandboxName = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=64, pattern=SANDBOX_NAME_PATTERN),
    Field(description="The sandbox: lowercase letters, digits and hyphens."),
]
PlatformUrl = Annotated[
    str,
    StringConstraints(strict=True, max_length=2048),
    AfterValidator(_platform_url),
    Field(
        description="The platform's base URL: https, or http to a loopback address; "
        "no user or password.",
        json_schema_extra={"pattern": r"^https?://[^/@\s]+(/.*)?$"},
    ),
]
ManifestPath = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=4096),
    BeforeValidator(reject_control_characters),
]
# Key rules are checked by their validator (for its message); the JSON Schema states them
# as `propertyNames` on the mappings.
VariableName = Annotated[
    str,
    StringConstraints(strict=True),
    _named_key(
        "a variable name",
        VARIABLE_NAME_PATTERN,
        "a letter or '_', then letters, digits, '_' or '-'; at most 64",
    ),
]
VariableValue = Annotated[
    str,
    StringConstraints(strict=True, max_length=4000),
    BeforeValidator(reject_control_characters),
]
EnvironmentName = Annotated[
    str,
    StringConstraints(strict=True),
    _named_key(
        "an environment name",
        ENVIRONMENT_NAME_PATTERN,
        "letters, digits, '.', '_' and '-', starting with a letter or digit; at most 64",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Safety(_Strict):
    deleteThreshold: Annotated[StrictFloat, Field(ge=0, le=1)] = Field(
        default=0.3,
        description="Share of the managed dataflows above which deleting or replacing them "
        "needs --force.",
    )
    minManaged: Annotated[StrictInt, Field(ge=0)] = Field(
        default=10, description="The threshold applies from this many managed dataflows."
    )


# An IMS client id as the platform records it (`updatedClient`): printable, no spaces.
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,128}$")]


class Environment(_Strict):
    sandbox: SandboxName
    platformUrl: PlatformUrl | None = None
    vars: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        description="Values of the ${var:NAME} references of manifests.",
        json_schema_extra={"propertyNames": {"pattern": VARIABLE_NAME_PATTERN}},
    )
    clients: list[ClientId] = Field(
        default_factory=list,
        description="IMS client ids whose writes are this tool's besides the run's own (the "
        "apply pipeline's, when plans run with another client): their edits are not drift.",
    )


class ProjectFile(_Strict):
    """What `provisioner.yaml` holds."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="provisioner project file",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://provisioner.dev/schemas/project.schema.json",
        },
    )

    project: ProjectName = DEFAULT_PROJECT
    manifests: list[ManifestPath] = Field(
        default_factory=list,
        description="Manifest files or directories, relative to this file, used when the "
        "command line gives none.",
    )
    safety: Safety = Field(default_factory=Safety)
    environments: dict[EnvironmentName, Environment] = Field(
        default_factory=dict,
        description="Named targets (--env NAME): a sandbox, a platform URL, variable values.",
        json_schema_extra={"propertyNames": {"pattern": ENVIRONMENT_NAME_PATTERN}},
    )


class Project(ProjectFile):
    """A loaded project file; `root` is the directory that holds it."""

    root: Path
    file: Path
    # The YAML it was read from, so that later checks can point at its lines.
    _document: YamlMap | None = PrivateAttr(default=None)

    def locate(self, *parts: PathPart) -> tuple[Location, str]:
        """The position in the project file, and the dotted path, of a field."""
        return locate(self.file, self._document, parts)

    def manifest_paths(self) -> list[Path]:
        """The `manifests` entries as paths, relative to the project's directory."""
        return [self.root / path for path in self.manifests]

    def environment(self, name: str) -> Environment:
        """The environment `name` (from --env or PROVISIONER_ENV); ProjectError if none."""
        if name in self.environments:
            return self.environments[name]
        defined = ", ".join(self.environments) or "none"
        message = f"environment '{name}' is not defined (defined: {defined})"
        raise ProjectError([Problem("error", Location(str(self.file)), message)])


def project_json_schema() -> dict[str, Any]:
    return ProjectFile.model_json_schema()


def find_project(start: Path) -> Project | None:
    """The project file in `start` (a directory, or a file's directory) or its nearest
    parent, loaded; None when there is none. Raises ProjectError when it is invalid."""
    here = start.resolve()
    directory = here if here.is_dir() else here.parent
    for candidate in (directory, *directory.parents):
        path = candidate / PROJECT_FILE
        if path.is_file():
            return load_project(path)
    return None


def load_project(path: Path) -> Project:
    """Load and validate a project file; raises ProjectError with every problem."""
    documents, problems = read_documents(path)
    if problems:
        raise ProjectError(problems)
    present = [d for d in documents if d is not None]
    if len(present) > 1:
        raise ProjectError(
            [Problem("error", Location(str(path)), "a project file holds one YAML document")]
        )
    document = present[0] if present else YamlMap(0, 0)
    if not isinstance(document, YamlMap):
        location, _ = locate(path, document, ())
        raise ProjectError(
            [Problem("error", location, "a project file must be a mapping of keys to values")]
        )
    try:
        spec = ProjectFile.model_validate(to_plain(document))
    except ValidationError as error:
        raise ProjectError(validation_problems(path, document, error, root=ProjectFile)) from None
    project = Project(**dict(spec), root=path.parent.resolve(), file=path)
    project._document = document
    return project


def shared_sandboxes(project: Project) -> list[Problem]:
    """A warning for every environment that names the sandbox and platform of an earlier one.

    Not an error: the project file does not say which organisation an environment is in
    (its credentials do), and two organisations may both have a `prod` sandbox.
    """
    first_of: dict[tuple[str, str], str] = {}
    problems = []
    for name, environment in project.environments.items():
        place = (environment.sandbox, _platform_key(environment.platformUrl))
        first = first_of.setdefault(place, name)
        if first == name:
            continue
        first_line = project.locate("environments", first, "sandbox")[0].line
        url = (project.environments[first].platformUrl or DEFAULT_PLATFORM_URL).rstrip("/")
        message = (
            f"environments '{first}' (line {first_line}) and '{name}' both use sandbox "
            f"'{environment.sandbox}' at {url}: they are kept apart on the platform (each "
            "environment only touches the objects it made), but sharing one sandbox between "
            "environments is usually a mistake"
        )
        location, path = project.locate("environments", name, "sandbox")
        problems.append(Problem("warning", location, message, path))
    return problems


def _platform_key(url: str | None) -> str:
    """A platform URL as compared: absent is the default platform; scheme and host in any
    case, the default port and trailing slashes make no difference."""
    parts = urlsplit((url or DEFAULT_PLATFORM_URL).strip())
    try:
        port = parts.port
    except ValueError:  # a malformed port: the run refuses it; compare the text meanwhile
        return parts.geturl()
    host = (parts.hostname or "").rstrip(".")
    host = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


def check_environments(
    project: Project | None, manifests: Sequence[LoadedManifest]
) -> list[Problem]:
    """Every environment defines every `${var:}` the manifests use, with values that make
    valid manifests. Without a project file, or environments, a used variable is an error."""
    uses = variable_uses(manifests)
    if not uses:
        return []
    if project is None or not project.environments:
        reason = (
            f"no project file ({PROJECT_FILE}) defines environments"
            if project is None
            else f"the project file {project.file} defines no environments"
        )
        return [
            Problem(
                "error", use.location, f"variable '{use.name}' has no value: {reason}", use.path
            )
            for use in uses
        ]
    problems: list[Problem] = []
    for name, environment in project.environments.items():
        problems.extend(substitute_vars(manifests, environment.vars, name)[1])
    return list(dict.fromkeys(problems))
