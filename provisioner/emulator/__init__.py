"""A local Flow Service, Audiences API and IMS, faithful to the platform's documented
behaviour.

Its names are loaded on first use: the CLI imports the emulator only when it is the target.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner.emulator.app import EmulatorApp, EmulatorConfig
    from provisioner.emulator.audiences import Audiences, AudienceSeed
    from provisioner.emulator.faults import FaultRule, Faults
    from provisioner.emulator.store import Store, StoreFileError

_HOMES = {
    "AudienceSeed": "audiences",
    "Audiences": "audiences",
    "EmulatorApp": "app",
    "EmulatorConfig": "app",
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
