"""Which sandboxes exist in the emulated organisation.

`prod` always exists, as every organisation's production sandbox does. Another exists when
it is named where the emulator starts (`EmulatorConfig.sandboxes`, `serve --sandbox NAME`),
added since (`POST /emulator/sandboxes`, `provisioner emulator sandboxes add`), or when the
emulator's data holds anything in it (objects, audiences: data made before sandboxes were
checked, or seeded). A sandbox seen to exist is recorded, so it stays when its last object
is deleted; none is ever removed.

A request in any other sandbox is refused as the platform refuses it (see `unknown`).
"""

from __future__ import annotations

import re
import threading

from provisioner.emulator.errors import ApiError
from provisioner.emulator.store import Store

PROD = "prod"
# As the platform names sandboxes: lowercase letters, digits and hyphens.
NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
MAX_NAME = 64
UNKNOWN_CODE = "2100"


def check_name(name: object) -> str:
    """`name` if it is a sandbox name; ValueError otherwise."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a sandbox name: lowercase letters, digits and hyphens, "
            f"at most {MAX_NAME}"
        )
    return name


def unknown(sandbox: str, status: int) -> ApiError:
    """The answer to a request in a sandbox that does not exist. Adobe's error table says
    404 2100 with this message; a live platform answered 500 (its body unrecorded), which is
    the default. The body is the Flow Service's usual error shape either way."""
    return ApiError(
        status, UNKNOWN_CODE, f"The sandbox with the name '{sandbox}' could not be found"
    )


class Sandboxes:
    """The sandboxes of one emulator's store, and prod; the app adds those it was started
    with (`EmulatorConfig.sandboxes`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Sandboxes are never removed, so one seen to exist needs no second look.
        self._known: set[str] = {PROD}
        self._lock = threading.Lock()

    def exists(self, name: str) -> bool:
        if name in self._known:
            return True
        if not self.store.has_sandbox(name):
            return False
        self.store.add_sandbox(name)  # it holds data now; it exists when emptied too
        with self._lock:
            self._known.add(name)
        return True

    def add(self, name: str) -> None:
        self.store.add_sandbox(check_name(name))
        with self._lock:
            self._known.add(name)

    def names(self) -> set[str]:
        return {PROD, *self.store.sandbox_names()}
