"""The profiles behind the emulator's audiences: who is in an audience, which identities and
attributes each profile has, and what a streaming destination receives for it.

Everything is derived from ids with SHA-256, so a run, a test and a rerun all see the same
profiles without storing any:

- each sandbox has a numbered pool of profiles; profile `i` of sandbox `s` has the id
  `uuid5(URL, "emulator-profile:s:i")`;
- an audience has `totalProfiles` members when seeded with it, else 5 to 20 (from a hash of
  its id); its members are consecutive profiles from a start its id picks in the first 64,
  so two audiences of a sandbox often share members, as real audiences do;
- every profile has an `ecid`; two in three also have an `email_lc_sha256`;
- a profile holds a given attribute (an XDM path) unless a hash of the two says not, which
  it does for one path in four; its value is derived from the profile id and the path.

An audience that does not exist has no members: in a seeded sandbox, one not seeded; in a
sandbox never seeded, anything but a well-formed UUID (the Audiences API's own rule).
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioner.emulator.audiences import KIND, Audiences, is_uuid

POOL = 64  # audiences start somewhere in the first POOL profiles of their sandbox
MIN_DEFAULT_MEMBERS, MAX_DEFAULT_MEMBERS = 5, 20
QUALIFIED_WITHIN_S = 3600  # a member qualified at most an hour before its audience was mapped


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _number(*parts: str) -> int:
    return int.from_bytes(_digest(*parts)[:8], "big")


@dataclass(frozen=True)
class Profile:
    sandbox: str
    index: int

    @property
    def id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator-profile:{self.sandbox}:{self.index}"))

    def identity_map(self) -> dict[str, list[dict[str, str]]]:
        """Every identity of the profile, by namespace, as an export carries them."""
        ecid = str(int.from_bytes(_digest(self.id, "ecid")[:16], "big") % 10**38).zfill(38)
        identities = {"ecid": [{"id": ecid}]}
        if _number(self.id, "email") % 3 != 0:
            email = f"{self.id[:8]}@example.com"
            identities["email_lc_sha256"] = [{"id": hashlib.sha256(email.encode()).hexdigest()}]
        return identities

    def holds(self, path: str) -> bool:
        return _number(self.id, "holds", path) % 4 != 0

    def value(self, path: str) -> str:
        """The profile's value of an attribute: shaped like an email or phone number where
        the path says so, else the attribute's name and a token."""
        token = _digest(self.id, "value", path).hex()[:10]
        leaf = path.rsplit(".", 1)[-1]
        lowered = path.lower()
        if "email" in lowered:
            return f"{token}@example.com"
        if "phone" in lowered:
            return "+1555" + str(int(token, 16) % 10**7).zfill(7)
        return f"{leaf}-{token}"


def default_size(audience_id: str) -> int:
    span = MAX_DEFAULT_MEMBERS - MIN_DEFAULT_MEMBERS + 1
    return MIN_DEFAULT_MEMBERS + _number(audience_id, "size") % span


def audience_size(audiences: Audiences, sandbox: str, audience_id: str) -> int:
    """How many profiles an audience has (0 when it does not exist in the sandbox)."""
    if not audiences.seeded(sandbox):
        return default_size(audience_id) if is_uuid(audience_id) else 0
    stored = audiences.store.get(KIND, sandbox, audience_id)
    if stored is None:
        return 0
    total = stored.get("totalProfiles")
    return int(total) if isinstance(total, int) else default_size(audience_id)


def members(sandbox: str, audience_id: str, size: int) -> list[Profile]:
    start = _number(audience_id, "start") % POOL
    return [Profile(sandbox, index) for index in range(start, start + size)]


def excluded(profile: Profile, attributes: Iterable[str]) -> bool:
    """A profile is left out (counted as skipped) when the dataflow maps attributes and the
    profile holds none of them: its record would carry nothing the destination asked for."""
    paths = list(attributes)
    return bool(paths) and not any(profile.holds(path) for path in paths)


def exported_record(
    profile: Profile, attributes: Iterable[str], qualified: dict[str, int]
) -> dict[str, Any]:
    """The document a stream or hub receives for a profile: the mapped attributes it holds
    at their XDM paths, its membership of the mapped audiences (`qualified`: audience id ->
    when the dataflow began exporting it, epoch ms), and all its identities."""
    record: dict[str, Any] = {}
    for path in attributes:
        if profile.holds(path):
            _place(record, path.split("."), profile.value(path))
    memberships = {
        audience_id: {
            "lastQualificationTime": _qualification_time(profile, audience_id, mapped_at),
            "status": "realized",
        }
        for audience_id, mapped_at in qualified.items()
    }
    record.setdefault("segmentMembership", {})["ups"] = memberships
    record["identityMap"] = profile.identity_map()
    return record


def _place(record: dict[str, Any], steps: list[str], value: str) -> None:
    node = record
    for step in steps[:-1]:
        child = node.setdefault(step, {})
        if not isinstance(child, dict):
            return  # a shorter mapped path holds a value here already
        node = child
    if not isinstance(node.get(steps[-1]), dict):
        node[steps[-1]] = value


def _qualification_time(profile: Profile, audience_id: str, mapped_at: int) -> str:
    """Stable from run to run: a moment in the hour before the audience was mapped."""
    seconds = mapped_at // 1000 - _number(profile.id, audience_id) % QUALIFIED_WITHIN_S
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
