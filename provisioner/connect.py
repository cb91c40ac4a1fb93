"""Wiring: which target the tool talks to, and over which transport.

The one module that knows both the platform client and the emulator: the client speaks
HTTP to whatever transport it is given, and the emulator knows nothing of the client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.errors import TargetError
from provisioner.files import UnsafePathError, ensure_private_dir, ignore_everything
from provisioner.platform.client import ClientOptions, PlatformClient
from provisioner.platform.target import (
    DEFAULT_PLATFORM_URL,
    DEFAULT_SANDBOX,
    Target,
    check_sandbox,
    ci_is_set,
    configured,
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
    notify: Callable[[str], None] | None = None,
) -> Target:
    """Choose the target from flags and `AEP_*` variables, exactly as the contract says.

    Every value is checked before any request; falling back to the embedded emulator
    (nothing configured) is announced through `notify`: the command line says it, this
    module prints nothing (without `notify`, the fallback goes unannounced).
    """
    chosen_sandbox = _sandbox(environ, sandbox)
    url = (platform_url or "").strip() or configured(environ, "AEP_PLATFORM_URL")
    has_credentials = bool(
        (configured(environ, "AEP_CLIENT_ID") and configured(environ, "AEP_CLIENT_SECRET"))
        or configured(environ, "AEP_ACCESS_TOKEN")
    )
    if use_emulator:
        if url:
            raise TargetError("--emulator and a platform URL name two targets; choose one")
        return emulator_target(chosen_sandbox, workdir)
    if url or has_credentials:
        return platform_target(environ, url or DEFAULT_PLATFORM_URL, chosen_sandbox)
    if ci_is_set(environ):
        raise TargetError(
            "no target: CI is set but neither AEP credentials (AEP_CLIENT_ID and "
            "AEP_CLIENT_SECRET, or AEP_ACCESS_TOKEN), AEP_PLATFORM_URL nor --emulator names "
            "one; refusing to fall back to the embedded emulator in a pipeline"
        )
    target = emulator_target(chosen_sandbox, workdir)
    if notify is not None:
        notify(
            f"Using the embedded emulator at {_relative(Path(target.url), workdir)} "
            "(no AEP credentials or platform URL set)"
        )
    return target


def _sandbox(environ: Mapping[str, str], flag: str | None) -> str:
    """The sandbox from --sandbox, else AEP_SANDBOX, else prod; checked either way."""
    if flag is not None:
        return check_sandbox(flag.strip(), "--sandbox")
    if "AEP_SANDBOX" in environ:
        return check_sandbox(configured(environ, "AEP_SANDBOX"), "AEP_SANDBOX")
    return DEFAULT_SANDBOX


def _relative(path: Path, workdir: Path | None) -> str:
    try:
        return str(path.relative_to(workdir or Path.cwd()))
    except ValueError:
        return str(path)


def emulator_target(sandbox: str, workdir: Path | None = None) -> Target:
    path = (workdir or Path.cwd()) / EMULATOR_FILE
    return Target("emulator", str(path), DEFAULT_ORG, sandbox, client_id=DEFAULT_CLIENT_ID)


def prepare_emulator_dir(folder: Path) -> None:
    """The embedded emulator's folder: the user's own, 0700, with a `.gitignore` of `*`."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        ensure_private_dir(folder)
        ignore_everything(folder)
    except UnsafePathError as error:
        raise TargetError(f"the embedded emulator's folder is unsafe: {error}") from None
    except OSError as error:
        raise TargetError(
            f"cannot prepare the embedded emulator's folder {folder}: {error.strerror}"
        ) from None


def connect(
    target: Target, transport: httpx.BaseTransport | None = None, **options: Any
) -> PlatformClient:
    """A client for `target`: over HTTP, or in-process to the embedded emulator's file.
    `options` are ClientOptions' fields."""
    if target.kind == "platform":
        return PlatformClient(target, ClientOptions(transport=transport, **options))
    if transport is None:
        transport = _embedded_emulator(target)
    # The embedded emulator is reached like any platform: its IMS, its own client secret.
    speaking = replace(target, ims_url=EMULATOR_BASE, client_secret=DEFAULT_CLIENT_SECRET)
    return PlatformClient(
        speaking, ClientOptions(transport=transport, base_url=EMULATOR_BASE, **options)
    )


def _embedded_emulator(target: Target) -> httpx.BaseTransport:
    """The emulator in-process over its data file. Imported here: a run against the
    platform never loads it.

    Its sandboxes are prod, those its data holds or `provisioner emulator sandboxes add`
    made, and those the project's environments name: the project file says which sandboxes
    the organisation has, so `--env dev` works on a fresh machine, while a sandbox named
    nowhere (a typo in --sandbox) is refused as the platform refuses it."""
    from provisioner.emulator.app import EmulatorApp, EmulatorConfig
    from provisioner.emulator.server import EmulatorTransport
    from provisioner.emulator.store import Store

    sandboxes: frozenset[str] = frozenset()
    if target.url != ":memory:":
        prepare_emulator_dir(Path(target.url).parent)
        sandboxes = project_sandboxes(Path(target.url).parent.parent)
    try:
        store = Store(target.url)
    except OSError as error:  # a symlink planted at the data file, a read-only folder
        raise TargetError(f"the embedded emulator's data file {target.url}: {error}") from None
    return EmulatorTransport(EmulatorApp(store, EmulatorConfig(sandboxes=sandboxes)))


def project_sandboxes(workdir: Path) -> frozenset[str]:
    """The sandboxes of the environments of the project file that `workdir` (where the
    embedded emulator's data lives: the project's root) belongs to; none without one."""
    from provisioner.manifest.project import find_project  # loaded by the run already

    project = find_project(workdir)
    if project is None:
        return frozenset()
    return frozenset(environment.sandbox for environment in project.environments.values())
