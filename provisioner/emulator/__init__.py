"""A local Flow Service, Audiences API and IMS, faithful to the platform's documented
behaviour."""

from __future__ import annotations

from provisioner.emulator.app import EmulatorApp, EmulatorConfig
from provisioner.emulator.audiences import Audiences, AudienceSeed
from provisioner.emulator.faults import FaultRule, Faults
from provisioner.emulator.store import Store, StoreFileError

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
