"""A manifest's audiences as written: by id, by name alone, or both, with their positions."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.manifest.load import LoadedManifest
from provisioner.manifest.problems import Location


@dataclass(frozen=True)
class AudienceRef:
    """One entry of `audiences`: an id, a name, or both; where it is written."""

    id: str | None
    name: str | None
    description: str | None
    location: Location
    path: str  # such as `audiences[2]`
    index: int


def audience_refs(loaded: LoadedManifest) -> list[AudienceRef]:
    """Every audience of a manifest, in order, the bare-id shorthand expanded."""
    refs = []
    for index, audience in enumerate(loaded.manifest.audience_entries()):
        location, path = loaded.locate("audiences", index)
        refs.append(
            AudienceRef(audience.id, audience.name, audience.description, location, path, index)
        )
    return refs
