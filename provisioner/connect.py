"""Wiring: which target the tool talks to, and over which transport.

The one module that knows both the platform client and the emulator: the client speaks
HTTP to whatever transport it is given, and the emulator knows nothing of the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from provisioner.emulator.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG,
    EmulatorApp,
)
from provisioner.emulator.server import EmulatorTransport
from provisioner.emulator.store import Store
from provisioner.errors import TargetError
from provisioner.platform.client import PlatformClient
from provisioner.platform.target import (
    DEFAULT_PLATFORM_URL,
    DEFAULT_SANDBOX,
    Target,
    platform_target,
)

EMULATOR_FILE = Path(".provisioner") / "emulator.db"
# The in-process emulator answers on any host; this one can never reach a network.
EMULATOR_BASE = "http://emulator.invalid"


def select_target(
    environ: Mapping[str, str],
    platform_url: str | None = None,
    sandbox: str | None = None,
    use_emulator: bool = False,
    workdir: Path | None = None,
) -> Target:
    """Choose the target from flags and `AEP_*` variables, exactly as the contract says."""
    env = {k: v for k, v in environ.items() if v}
    chosen_sandbox = sandbox or env.get("AEP_SANDBOX") or DEFAULT_SANDBOX
    url = platform_url or env.get("AEP_PLATFORM_URL")
    has_credentials = bool(
        ("AEP_CLIENT_ID" in env and "AEP_CLIENT_SECRET" in env) or "AEP_ACCESS_TOKEN" in env
    )
    if use_emulator:
        if url:
            raise TargetError("--emulator and a platform URL name two targets; choose one")
        return emulator_target(chosen_sandbox, workdir)
    if url or has_credentials:
        return platform_target(env, url or DEFAULT_PLATFORM_URL, chosen_sandbox)
    if "CI" in environ:
        raise TargetError(
            "no target: CI is set but neither AEP credentials (AEP_CLIENT_ID and "
            "AEP_CLIENT_SECRET, or AEP_ACCESS_TOKEN), AEP_PLATFORM_URL nor --emulator names "
            "one; refusing to fall back to the embedded emulator in a pipeline"
        )
    return emulator_target(chosen_sandbox, workdir)


def emulator_target(sandbox: str, workdir: Path | None = None) -> Target:
    path = (workdir or Path.cwd()) / EMULATOR_FILE
    return Target("emulator", str(path), DEFAULT_ORG, sandbox, client_id=DEFAULT_CLIENT_ID)


def connect(
    target: Target, transport: httpx.BaseTransport | None = None, **options: Any
) -> PlatformClient:
    """A client for `target`: over HTTP, or in-process to the embedded emulator's file."""
    if target.kind == "platform":
        return PlatformClient(target, transport, **options)
    if transport is None:
        transport = EmulatorTransport(EmulatorApp(Store(target.url)))
    # The embedded emulator is reached like any platform: its IMS, its own client secret.
    speaking = replace(target, ims_url=EMULATOR_BASE, client_secret=DEFAULT_CLIENT_SECRET)
    return PlatformClient(speaking, transport, base_url=EMULATOR_BASE, **options)
