"""A local Flow Service, Audiences API and IMS, faithful to the platform's documented
behaviour.

Sandboxes exist as in a real organisation, so a mistyped sandbox fails here as it fails on
the platform instead of quietly holding a second copy of everything: `prod` always exists;
so do the sandboxes the emulator is started with (`serve --sandbox NAME`,
`EmulatorConfig.sandboxes`), those added since (`POST /emulator/sandboxes`, `provisioner
emulator sandboxes add NAME`) and those its data holds objects or audiences in. Every Flow
Service and Audiences request in another sandbox is answered 500 (as a live platform
answered), in the Flow Service's error shape, naming the sandbox (`sandboxes.py`).

The embedded emulator (the CLI's target when no platform is configured) also knows the
sandboxes of the project file's environments (`provisioner.connect`): the project names the
organisation's sandboxes, so `--env dev` works on a fresh machine, while `--sandbox` with a
name the project does not know is refused until `emulator sandboxes add` makes it.

Its names are loaded on first use: the CLI imports the emulator only when it is the target.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner.emulator.app import EmulatorApp
    from provisioner.emulator.audiences import Audiences, AudienceSeed
    from provisioner.emulator.config import EmulatorConfig
    from provisioner.emulator.faults import FaultRule, Faults
    from provisioner.emulator.store import Store, StoreFileError

_HOMES = {
    "AudienceSeed": "audiences",
    "Audiences": "audiences",
    "EmulatorApp": "app",
    "EmulatorConfig": "config",
    "FaultRule": "faults",
    "Faults": "faults",
    "Store": "store",
    "StoreFileError": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "AudienceSeed",
    "Audiences",
    "EmulatorApp",
    "EmulatorConfig",
    "FaultRule",
    "Faults",
    "Store",
    "StoreFileError",
]
