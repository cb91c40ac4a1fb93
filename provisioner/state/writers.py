"""Clients the tool recorded as its own writers, provable only with the operator's key.

A platform may record the tool's writes under another name than the run's client id (a
technical account's, say). Apply can see that name right after a write it made and read
back; it records it in the account's marker as `writer.<client>=<mac>`, where the mac is an
HMAC keyed with PROVISIONER_FINGERPRINT_KEY over the project, environment, account and
client. Anyone can write an account's description, but without the key no one can make a
record that verifies, so a forged writer never makes another client's edits read as the
tool's. Without the key nothing is recorded or believed.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import unquote

from provisioner.state.marker import encode

WRITER_PREFIX = "writer."


def writer_mac(key: str, project: str, env: str | None, account_id: str, client: str) -> str:
    message = "\n".join(("writer", project, env or "", account_id, client)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]


def writers_of(fields: dict[str, str]) -> dict[str, str]:
    """Client -> mac, from an account's marker fields."""
    return {
        unquote(k[len(WRITER_PREFIX) :]): v
        for k, v in fields.items()
        if k.startswith(WRITER_PREFIX) and len(k) > len(WRITER_PREFIX)
    }


def writer_field(client: str) -> str:
    return WRITER_PREFIX + encode(client)


def verified(
    writers: dict[str, str], key: str | None, project: str, env: str | None, account_id: str
) -> set[str]:
    """The recorded writers whose mac this key makes, for this scope and account."""
    if not key:
        return set()
    return {
        client
        for client, mac in writers.items()
        if hmac.compare_digest(mac, writer_mac(key, project, env, account_id, client))
    }
