"""How one emulator behaves where the platform's documentation disagrees, and more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.strict import ActionForm, Write


@dataclass
class EmulatorConfig:
    """How this emulator behaves where the platform's documentation disagrees, and more."""

    clients: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {DEFAULT_CLIENT_ID: (DEFAULT_CLIENT_SECRET, DEFAULT_ORG)}
    )  # client id -> (client secret, IMS org)
    # Sandboxes that exist besides prod and those of the store (see sandboxes.py).
    sandboxes: frozenset[str] = frozenset()
    # The status of the answer in a sandbox that does not exist: a live platform's 500, or
    # the 404 of Adobe's error table.
    unknown_sandbox_status: Literal[500, 404] = 500
    token_ttl: int = 86399  # seconds, as IMS answers
    patch_status: Literal[200, 202] = 200  # 200 with {id, etag}, or 202 with no body
    delete_status: Literal[202, 204] = 202
    missing_sandbox: Literal["prod", "error"] = "prod"  # default to prod, or 400 (2105)
    # Refuse every write no document shows (strict.DOCUMENTED_WRITES), and require what the
    # documents require, instead of accepting whatever the emulator can carry out.
    strict: bool = False
    # Which documented form(s) of POST /flows/{id}/action are accepted.
    action_form: ActionForm = "both"
    # Writes accepted in strict mode beyond the documented ones: to try a client against a
    # platform that turns out to accept one of them.
    also_accept: tuple[Write, ...] = ()
    # Objects carry createdClient and updatedClient, as the OpenAPI documents say (False: a
    # platform that leaves them out, for clients that must not depend on them).
    record_clients: bool = True
    # The name a client's writes are recorded under, where it is not the client id itself.
    recorded_as: dict[str, str] = field(default_factory=dict)
    # A quota per client (quota.py), as a metered platform's gateway keeps: requests a
    # second, and the burst a client may spend at once (None: one second's worth).
    # None: no quota.
    quota_rps: float | None = None
    quota_burst: int | None = None
