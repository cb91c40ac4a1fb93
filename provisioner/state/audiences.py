"""The manifests' audiences, resolved against the target sandbox before anything is planned.

An audience given by name alone gets the id of the one usable (active or published)
audience of the sandbox with exactly that name (case-sensitive); none or several is an
error that lists similar names. An audience given by id must exist in the sandbox; its
`name` stays the label written into the dataflow, and a different name on the platform is
only a warning (an empty one is no difference: some sandboxes answer without names). Two
entries of one manifest that come to the same audience are a duplicate.

Every problem points at the manifest's line, as the manifest checks do, and all of a run's
audiences are read in a handful of requests (see `provisioner.platform.audiences`). When
the organisation is not enabled for audiences (403), names cannot be resolved (errors) and
ids are not checked (a warning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from provisioner.manifest import LoadedManifest, Problem
from provisioner.manifest.audiences import AudienceRef, audience_refs
from provisioner.manifest.problems import Findings
from provisioner.platform.audiences import AudiencesUnavailable, NameMatches, PlatformAudience


class AudienceSource(Protocol):
    """What resolving needs from the platform (an `AudienceReader`, or a test's double)."""

    def by_ids(self, ids: Iterable[str]) -> dict[str, PlatformAudience]: ...

    def by_names(self, names: Iterable[str]) -> NameMatches: ...


@dataclass
class AudienceResolution(Findings):
    manifests: list[LoadedManifest]  # every audience with its id (when there are no errors)
    problems: list[Problem] = field(default_factory=list)
    names_by_id: dict[str, str] = field(default_factory=dict)  # lowercased id -> platform name


@dataclass(frozen=True)
class _Entry:
    loaded: LoadedManifest
    ref: AudienceRef


def resolve_audiences(
    source: AudienceSource, manifests: Sequence[LoadedManifest], sandbox: str
) -> AudienceResolution:
    """Names resolved to ids and ids checked, in the sandbox `source` reads; no request at
    all when no manifest lists an audience."""
    entries = [_Entry(m, ref) for m in manifests for ref in audience_refs(m)]
    resolution = AudienceResolution(list(manifests))
    if not entries:
        return resolution
    by_name = [e for e in entries if e.ref.id is None]
    by_id = [e for e in entries if e.ref.id is not None]
    ids_by_name, seen = _resolve_names(source, by_name, sandbox, resolution)
    _check_ids(source, by_id, sandbox, resolution, seen)
    resolution.problems.extend(_duplicates(entries, ids_by_name))
    if not resolution.errors:
        resolution.manifests = [
            replace(m, manifest=m.manifest.with_audience_ids(ids_by_name)) for m in manifests
        ]
    return resolution


def _resolve_names(
    source: AudienceSource,
    entries: Sequence[_Entry],
    sandbox: str,
    resolution: AudienceResolution,
) -> tuple[dict[str, str], dict[str, PlatformAudience]]:
    """Ids by name, and every audience the lookups saw (by lowercased id): those exist,
    so checking their ids needs no request."""
    names = sorted({e.ref.name for e in entries if e.ref.name is not None})
    if not names:
        return {}, {}
    try:
        matches = source.by_names(names)
    except AudiencesUnavailable as unavailable:
        for entry in entries:
            message = (
                f"audience '{entry.ref.name}' cannot be looked up by name: {unavailable}; "
                "give its id instead"
            )
            resolution.problems.append(_problem(entry, "error", message, "name"))
        return {}, {}
    ids_by_name: dict[str, str] = {}
    for name in names:
        found = matches.exact(name)
        usable = [a for a in found if a.usable]
        if len(usable) == 1:
            ids_by_name[name] = usable[0].id.lower()
            resolution.names_by_id[usable[0].id.lower()] = name
            continue
        message = _name_problem(name, found, usable, matches, sandbox)
        for entry in entries:
            if entry.ref.name == name:
                resolution.problems.append(_problem(entry, "error", message, "name"))
    return ids_by_name, matches.seen


def _name_problem(
    name: str,
    found: Sequence[PlatformAudience],
    usable: Sequence[PlatformAudience],
    matches: NameMatches,
    sandbox: str,
) -> str:
    if len(usable) > 1:
        ids = ", ".join(a.id for a in usable)
        return (
            f"audience name '{name}' is ambiguous in sandbox '{sandbox}': {len(usable)} "
            f"active audiences have it ({ids}); give the id of the one you mean"
        )
    if found:
        states = ", ".join(f"{a.id} is {a.lifecycle_state}" for a in found)
        return (
            f"no active audience named '{name}' in sandbox '{sandbox}' ({states}); only "
            "active or published audiences can be activated"
        )
    similar = matches.similar(name)
    hint = (
        "; similar names: " + ", ".join(f"'{n}'" for n in similar)
        if similar
        else "; names are matched exactly, case included"
    )
    return f"no audience named '{name}' in sandbox '{sandbox}'{hint}"


def _check_ids(
    source: AudienceSource,
    entries: Sequence[_Entry],
    sandbox: str,
    resolution: AudienceResolution,
    seen: Mapping[str, PlatformAudience],
) -> None:
    if not entries:
        return
    ids = {(e.ref.id or "").lower() for e in entries}
    try:
        found = {**seen, **source.by_ids(sorted(ids - set(seen)))}
    except AudiencesUnavailable as unavailable:
        for loaded in {_key(e.loaded): e.loaded for e in entries}.values():
            message = f"audience ids were not checked: {unavailable}"
            resolution.problems.append(loaded.problem("warning", message, "audiences", at_key=True))
        return
    for entry in entries:
        audience_id = (entry.ref.id or "").lower()
        audience = found.get(audience_id)
        if audience is None:
            message = (
                f"audience {entry.ref.id} does not exist in sandbox '{sandbox}' (an id from "
                "another sandbox? audience ids differ between sandboxes: name it by `name` "
                "alone to have it looked up)"
            )
            resolution.problems.append(_problem(entry, "error", message, "id"))
            continue
        if audience.name:
            resolution.names_by_id.setdefault(audience_id, audience.name)
        resolution.problems.extend(_id_warnings(entry, audience, sandbox))


def _id_warnings(entry: _Entry, audience: PlatformAudience, sandbox: str) -> list[Problem]:
    warnings = []
    label = entry.ref.name
    if label is not None and audience.name and label != audience.name:
        message = (
            f"audience {entry.ref.id} is named '{audience.name}' in sandbox '{sandbox}', not "
            f"'{label}'; '{label}' is only the label written into the dataflow"
        )
        warnings.append(_problem(entry, "warning", message, "name"))
    if not audience.usable:
        message = (
            f"audience {entry.ref.id} is {audience.lifecycle_state} in sandbox '{sandbox}'; "
            "only active or published audiences are activated"
        )
        warnings.append(_problem(entry, "warning", message, "id"))
    return warnings


def _duplicates(entries: Sequence[_Entry], ids_by_name: Mapping[str, str]) -> list[Problem]:
    """Two entries of one manifest that come to the same audience (by name and by id, or
    two names of one audience cannot happen: names are exact)."""
    problems = []
    first: dict[tuple[tuple[str, int], str], _Entry] = {}
    for entry in entries:
        audience_id = (entry.ref.id or ids_by_name.get(entry.ref.name or "", "")).lower()
        if not audience_id:
            continue
        key = (_key(entry.loaded), audience_id)
        earlier = first.setdefault(key, entry)
        if earlier is entry:
            continue
        line = earlier.ref.location.line
        message = (
            f"audience {_shown(entry.ref)} is audience {audience_id}, already listed as "
            f"{_shown(earlier.ref)} (first at line {line})"
        )
        problems.append(_problem(entry, "error", message, None))
    return problems


def _key(loaded: LoadedManifest) -> tuple[str, int]:
    """One manifest: its file and its document in the file."""
    return (str(loaded.file), loaded.document)


def _shown(ref: AudienceRef) -> str:
    return f"'{ref.name}' (by name)" if ref.id is None else (ref.id or "")


def _problem(entry: _Entry, severity: str, message: str, key: str | None) -> Problem:
    """A problem at the entry's `key` (its name or id), or at the entry itself."""
    index = entry.ref.index
    is_object = not isinstance(entry.loaded.manifest.audiences[index], str)
    if key is not None and is_object:
        return entry.loaded.problem(severity, message, "audiences", index, key)
    return entry.loaded.problem(severity, message, "audiences", index)
