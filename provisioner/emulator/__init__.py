"""A local Flow Service and IMS, faithful to the documented behaviour of the platform."""

from __future__ import annotations

from provisioner.emulator.app import EmulatorApp, EmulatorConfig
from provisioner.emulator.faults import FaultRule, Faults
from provisioner.emulator.store import Store

__all__ = ["EmulatorApp", "EmulatorConfig", "FaultRule", "Faults", "Store"]
