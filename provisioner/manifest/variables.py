"""`${var:NAME}` in manifests: which variables they use, and their substitution.

A manifest is loaded and checked with its references in place; an environment's values are
substituted before the desired state is built, and every field is then checked again in its
own format (a region must still look like a region).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from provisioner.fields.templates import SUBSTITUTED, substitute, variable_names
from provisioner.manifest.checks import account_conflicts, destination_problems
from provisioner.manifest.diagnose import validation_problems
from provisioner.manifest.load import LoadedManifest
from provisioner.manifest.model import DESTINATION_VARIABLE_FIELDS, Manifest
from provisioner.manifest.problems import Location, Problem

# The fields that may hold references, as paths into a manifest's data; a destination
# field another type does not have is absent from that type's manifests, and skipped.
TEMPLATED_FIELDS: tuple[tuple[str, ...], ...] = (
    ("description",),
    *(("destination", field) for field in DESTINATION_VARIABLE_FIELDS),
)


@dataclass(frozen=True)
class VariableUse:
    """One `${var:NAME}` reference in a manifest."""

    name: str
    manifest: str  # the manifest's `name`
    location: Location
    path: str  # such as `destination.account`


def manifest_variable_uses(loaded: LoadedManifest) -> list[VariableUse]:
    uses = []
    for field in TEMPLATED_FIELDS:
        text = _field_text(loaded.manifest, field)
        if text is None:
            continue
        for name in dict.fromkeys(variable_names(text)):
            location, path = loaded.locate(*field)
            uses.append(VariableUse(name, loaded.manifest.name, location, path))
    return uses


def variable_uses(manifests: Sequence[LoadedManifest]) -> list[VariableUse]:
    """Every reference of every manifest, in order, with where it is written."""
    return [use for loaded in manifests for use in manifest_variable_uses(loaded)]


def substitute_vars(
    manifests: Sequence[LoadedManifest],
    values: Mapping[str, str],
    environment_name: str | None,
) -> tuple[list[LoadedManifest], list[Problem]]:
    """The manifests with every `${var:}` replaced by its value, and what went wrong.

    A variable without a value is an error at the line that uses it, naming the variable
    and the environment; a substituted field is checked again in its own format, and
    accounts shared between manifests are compared again. Only manifests without problems
    are returned; secrets already resolved stay resolved.
    """
    substituted: list[LoadedManifest] = []
    problems: list[Problem] = []
    note = _note(environment_name)
    for loaded in manifests:
        uses = manifest_variable_uses(loaded)
        missing = [use for use in uses if use.name not in values]
        for use in missing:
            message = _missing_message(use.name, environment_name)
            problems.append(Problem("error", use.location, message, use.path))
        if missing:
            continue
        if not uses:
            substituted.append(loaded)
            continue
        try:
            manifest = _substituted(loaded.manifest, dict(values))
        except ValidationError as error:
            problems.extend(validation_problems(loaded.file, loaded.node, error, note=note))
            continue
        substituted.append(replace(loaded, manifest=manifest))
    # Conflicts that the references hid at load time; the others were reported then.
    known = {(p.location, p.path) for p in account_conflicts(manifests)}
    for conflict in account_conflicts(substituted):
        if (conflict.location, conflict.path) not in known:
            problems.append(replace(conflict, message=conflict.message + note))
    problems.extend(_substituted_destination_problems(manifests, substituted, note))
    return substituted, problems


def _substituted_destination_problems(
    manifests: Sequence[LoadedManifest], substituted: Sequence[LoadedManifest], note: str
) -> list[Problem]:
    """The destination checks of the fields that held references (a `${var:region}` that
    is a typo in one environment); those of literal fields were reported at load time."""
    known = {problem for loaded in manifests for problem in destination_problems(loaded)}
    return [
        replace(problem, message=problem.message + note)
        for loaded in substituted
        for problem in destination_problems(loaded)
        if problem not in known
    ]


def _substituted(manifest: Manifest, values: dict[str, str]) -> Manifest:
    data = manifest.model_dump()
    for field in TEMPLATED_FIELDS:
        text = _get(data, field)
        if isinstance(text, str):
            _set(data, field, substitute(text, values))
    # The very references, not their text: a secret resolved before stays resolved.
    data["destination"]["credentials"] = dict(manifest.destination.credentials)
    return Manifest.model_validate(data, context=SUBSTITUTED)


def _missing_message(name: str, environment_name: str | None) -> str:
    if environment_name is None:
        return (
            f"variable '{name}' has no value: no environment is selected "
            "(environments and their vars are defined in the project file, provisioner.yaml)"
        )
    return (
        f"variable '{name}' is not defined in environment '{environment_name}' "
        f"(environments.{environment_name}.vars)"
    )


def _note(environment_name: str | None) -> str:
    return f" (with the values of environment '{environment_name}')" if environment_name else ""


def _field_text(manifest: Manifest, field: Sequence[str]) -> str | None:
    value: Any = manifest
    for part in field:
        value = getattr(value, part, None)
    return value if isinstance(value, str) else None


def _get(data: dict[str, Any], field: Sequence[str]) -> Any:
    value: Any = data
    for part in field:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set(data: dict[str, Any], field: Sequence[str], value: str) -> None:
    for part in field[:-1]:
        data = data[part]
    data[field[-1]] = value
