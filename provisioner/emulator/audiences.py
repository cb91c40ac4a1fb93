"""The audiences each sandbox knows, for the Segmentation Service's Audiences API
(`audiences_api.py`) and the emulator's runs (`profiles.py`).

Audiences are seeded, per sandbox, from a file, a command or a test endpoint (`seeds.py`);
nothing creates them through the API. A sandbox never seeded knows every audience: any
well-formed UUID reads as an active audience with an empty name, and its list is empty, so
manifests that name audiences by id work on a fresh emulator. A seeded sandbox knows exactly
its audiences. A sandbox can be set to answer 403, as an organisation not enabled for
audiences. A seeded audience may say how many profiles it has (`totalProfiles`): the
emulator's runs export that many (`profiles.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.emulator.seeds import AudienceSeed, SeedError, load_seed_file, parse_seed
from provisioner.emulator.store import Resource, Store

SEGMENTATION_PATH = "/data/core/ups"
AUDIENCES_PATH = SEGMENTATION_PATH + "/audiences"
KIND = "audiences"
SEEDED = "audiences-seeded"
DISABLED = "audiences-disabled"

__all__ = [
    "AUDIENCES_PATH",
    "KIND",
    "AudienceSeed",
    "Audiences",
    "SeedError",
    "is_uuid",
    "load_seed_file",
    "parse_seed",
]


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class Audiences:
    """The audiences of every sandbox, kept in the emulator's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # seeding -------------------------------------------------------------------------

    def seed(
        self,
        sandbox: str,
        audiences: Iterable[AudienceSeed | Mapping[str, Any]],
        replace: bool = False,
    ) -> int:
        """Add (or update, by id) audiences in `sandbox`, which from now on knows only its
        seeded audiences; `replace` forgets the ones not given. Returns how many were given."""
        seeds = [
            a if isinstance(a, AudienceSeed) else AudienceSeed.parse(a, f"{sandbox}[{i}]")
            for i, a in enumerate(audiences)
        ]
        with self.store.transaction():
            self.store.record_sandbox(sandbox)  # seeding a sandbox makes it exist
            self.store.set_flag(sandbox, SEEDED, True)
            if replace:
                for _, existing in self.store.entries(KIND, sandbox):
                    self.store.delete(KIND, sandbox, existing["id"])
            for seed in seeds:
                self._put(sandbox, seed)
        return len(seeds)

    def seed_all(
        self, seeds: Mapping[str, list[AudienceSeed]], replace: bool = False
    ) -> dict[str, int]:
        return {
            sandbox: self.seed(sandbox, audiences, replace) for sandbox, audiences in seeds.items()
        }

    def forget(self, sandbox: str) -> None:
        """Drop the sandbox's audiences: it knows every audience again, as if never seeded."""
        with self.store.transaction():
            for _, existing in self.store.entries(KIND, sandbox):
                self.store.delete(KIND, sandbox, existing["id"])
            self.store.set_flag(sandbox, SEEDED, False)

    def set_enabled(self, sandbox: str, enabled: bool) -> None:
        """A disabled sandbox answers every Audiences request 403, as an organisation that is
        not enabled for audiences does."""
        with self.store.transaction():
            self.store.set_flag(sandbox, DISABLED, not enabled)

    def seeded(self, sandbox: str) -> bool:
        return self.store.has_flag(sandbox, SEEDED)

    def enabled(self, sandbox: str) -> bool:
        return not self.store.has_flag(sandbox, DISABLED)

    def stored(self, sandbox: str) -> list[Resource]:
        """The seeded audiences of a sandbox, sorted by name then id."""
        audiences = [a for _, a in self.store.entries(KIND, sandbox)]
        return sorted(audiences, key=lambda a: (a["name"].lower(), a["id"]))

    def _put(self, sandbox: str, seed: AudienceSeed) -> None:
        fields: dict[str, Any] = {
            "id": seed.id,
            "name": seed.name,
            "description": seed.description,
            "lifecycleState": seed.lifecycle_state,
        }
        if seed.total_profiles is not None:
            fields["totalProfiles"] = seed.total_profiles
        current = self.store.get(KIND, sandbox, seed.id)
        if current is not None and _same(current, fields):
            return  # seeding the same file twice changes nothing, timestamps included
        now = self.store.now_ms()
        created = current["createdAt"] if current is not None else now
        self.store.put(
            KIND,
            sandbox,
            {**fields, "createdAt": created, "updatedAt": now, "etag": self.store.new_etag()},
        )

    # the API -------------------------------------------------------------------------


def _same(stored: Resource, fields: dict[str, Any]) -> bool:
    keys = {*fields, "totalProfiles"}
    return all(stored.get(k) == fields.get(k) for k in keys)
