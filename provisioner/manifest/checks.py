"""Checks across a manifest's lists and across all manifests of a run."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from provisioner import destinations
from provisioner.fields.templates import has_variables
from provisioner.manifest.load import LoadedManifest, LoadResult, load_paths
from provisioner.manifest.messages import soft_limit_message
from provisioner.manifest.model import SOFT_LIMIT_ATTRIBUTES, SOFT_LIMIT_AUDIENCES
from provisioner.manifest.problems import Problem
from provisioner.manifest.secrets import reference_problems
from provisioner.manifest.secrets import resolve_secrets as resolve_secrets

T = TypeVar("T")


def load_and_check(paths: Iterable[str | Path]) -> LoadResult:
    """Load manifests and run every offline check; secrets are not resolved."""
    result = load_paths(paths)
    result.problems.extend(check_manifests(result.manifests))
    return result


def check_manifests(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    problems: list[Problem] = []
    for loaded in manifests:
        problems.extend(_duplicate_entries(loaded))
        problems.extend(_earlier_names(loaded))
        problems.extend(_soft_limits(loaded))
        problems.extend(destination_problems(loaded))
    problems.extend(_duplicate_names(manifests))
    problems.extend(_earlier_names_across(manifests))
    problems.extend(account_conflicts(manifests))
    # By form alone, as validate can: what the job's environment lets manifests read.
    problems.extend(reference_problems(manifests))
    return problems


def _first_seen(items: Iterable[T], key: Callable[[T], Hashable]) -> list[tuple[int, int]]:
    """(index of a repeat, index of its first occurrence) for every repeated key."""
    seen: dict[Hashable, int] = {}
    repeats = []
    for index, item in enumerate(items):
        k = key(item)
        if k in seen:
            repeats.append((index, seen[k]))
        else:
            seen[k] = index
    return repeats


def _duplicate_entries(loaded: LoadedManifest) -> list[Problem]:
    manifest, problems = loaded.manifest, []
    audiences = manifest.audience_entries()
    # An audience with an id is keyed by it; one given by name alone, by its exact name.
    keys = [("id", a.id.lower()) if a.id else ("name", a.name or "") for a in audiences]
    for index, first in _first_seen(range(len(keys)), lambda i: keys[i]):
        line = loaded.locate("audiences", first)[0].line
        audience = audiences[index]
        shown = audience.id if audience.id else f"'{audience.name}' (by name)"
        message = f"audience {shown} is listed twice (first at line {line})"
        problems.append(loaded.problem("error", message, "audiences", index))
    for index, first in _first_seen(manifest.attributes, lambda a: a):
        line = loaded.locate("attributes", first)[0].line
        message = f"attribute {manifest.attributes[index]} is listed twice (first at line {line})"
        problems.append(loaded.problem("error", message, "attributes", index))
    return problems


def _soft_limits(loaded: LoadedManifest) -> list[Problem]:
    manifest, problems = loaded.manifest, []
    if len(manifest.audiences) > SOFT_LIMIT_AUDIENCES:
        message = soft_limit_message("audiences", len(manifest.audiences), SOFT_LIMIT_AUDIENCES)
        problems.append(loaded.problem("warning", message, "audiences", at_key=True))
    if len(manifest.attributes) > SOFT_LIMIT_ATTRIBUTES:
        message = soft_limit_message("attributes", len(manifest.attributes), SOFT_LIMIT_ATTRIBUTES)
        problems.append(loaded.problem("warning", message, "attributes", at_key=True))
    return problems


def _earlier_names(loaded: LoadedManifest) -> list[Problem]:
    manifest, problems = loaded.manifest, []
    for index, earlier in enumerate(manifest.renamedFrom):
        if earlier == manifest.name:
            message = f"'{earlier}' is this dataflow's current name, not an earlier one"
            problems.append(loaded.problem("error", message, "renamedFrom", index))
    for index, first in _first_seen(manifest.renamedFrom, lambda n: n):
        line = loaded.locate("renamedFrom", first)[0].line
        message = (
            f"earlier name '{manifest.renamedFrom[index]}' is listed twice (first at line {line})"
        )
        problems.append(loaded.problem("error", message, "renamedFrom", index))
    return problems


def _earlier_names_across(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    """An earlier name belongs to one dataflow: it is no other's name nor earlier name."""
    names = {loaded.manifest.name: loaded for loaded in reversed(manifests)}  # first wins
    earlier_owners: dict[str, tuple[LoadedManifest, int]] = {}
    problems = []
    for loaded in manifests:
        for index, earlier in enumerate(loaded.manifest.renamedFrom):
            named = names.get(earlier)
            claimed = earlier_owners.setdefault(earlier, (loaded, index))
            if named is not None and named is not loaded:
                where = named.locate("name")[0]
                message = f"earlier name '{earlier}' is the name of the manifest at {where}"
            elif claimed[0] is not loaded:
                where = claimed[0].locate("renamedFrom", claimed[1])[0]
                message = f"earlier name '{earlier}' is also claimed by the manifest at {where}"
            else:
                continue
            problems.append(loaded.problem("error", message, "renamedFrom", index))
    return problems


def _duplicate_names(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    """Names are compared as loaded, in NFC: two spellings that look alike are one name."""
    problems = []
    for index, first in _first_seen(manifests, lambda m: m.manifest.name):
        where = manifests[first].locate("name")[0]
        name = manifests[index].manifest.name
        message = f"dataflow name '{name}' is already used by the manifest at {where}"
        if _written_name(manifests[index]) != _written_name(manifests[first]):
            # They display alike, so say why they collide although the files differ.
            message += (
                " (written with other Unicode code points there, but the same name once "
                "normalised to NFC)"
            )
        problems.append(manifests[index].problem("error", message, "name"))
    return problems


def _written_name(loaded: LoadedManifest) -> object:
    """The name as the file spells it, before normalisation."""
    return loaded.node.get("name")


def destination_problems(loaded: LoadedManifest) -> list[Problem]:
    """What the destination's type can tell of its fields offline, beyond their form (a
    region where the service is not offered); a `${var:}` field is judged per environment."""
    destination = loaded.manifest.destination
    findings = destinations.by_type(destination.type).offline_findings(destination)
    return [loaded.problem(f.severity, f.message, "destination", f.field) for f in findings]


def account_settings(loaded: LoadedManifest) -> dict[str, str]:
    """What an account (base connection) is made of: its type, place and credentials."""
    destination = loaded.manifest.destination
    return destinations.by_type(destination.type).account_settings(destination)


def account_conflicts(manifests: Sequence[LoadedManifest]) -> list[Problem]:
    """Manifests sharing an account must agree on it.

    A setting that holds a `${var:}` reference is compared once substituted (by
    `substitute_vars`), since its text alone does not say what it will be.
    """
    owners: dict[str, LoadedManifest] = {}
    problems = []
    for loaded in manifests:
        key = loaded.manifest.account_key
        owner = owners.setdefault(key, loaded)
        if owner is loaded:
            continue
        differing = _differences(account_settings(loaded), account_settings(owner))
        if differing:
            where = owner.locate("destination")[0]
            message = (
                f"account '{key}' is shared with the manifest at {where} but differs in "
                f"{', '.join(sorted(differing))}; one account has one type, place and credentials"
            )
            problems.append(loaded.problem("error", message, "destination", "account"))
    return problems


def _differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    if mine["type"] != theirs["type"]:
        return [f"type ({theirs['type']} there, {mine['type']} here)"]
    return [
        k
        for k in mine.keys() | theirs.keys()
        if mine.get(k) != theirs.get(k) and not _templated(mine.get(k), theirs.get(k))
    ]


def _templated(*values: str | None) -> bool:
    return any(value is not None and has_variables(value) for value in values)
