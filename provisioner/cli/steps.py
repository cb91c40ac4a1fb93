"""The steps commands share: load and check manifests, choose the target, read, plan."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import ManifestError
from provisioner.manifest import LoadedManifest, Problem, load_and_check, resolve_secrets
from provisioner.plan.build import make_plan
from provisioner.plan.model import Plan, PlanTarget
from provisioner.platform.client import PlatformClient
from provisioner.platform.redact import REDACTOR
from provisioner.platform.target import Target
from provisioner.state.desired import desired_state
from provisioner.state.live import ManagedState, managed_state, read_live


class InvalidManifests(ManifestError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = sum(1 for p in problems if p.severity == "error")
        super().__init__(f"{errors} problem(s) in the manifests; nothing was read or changed")


@dataclass
class Loaded:
    manifests: list[LoadedManifest]
    warnings: list[Problem]


def load_manifests(
    paths: Sequence[str | Path], secrets: bool, environ: Mapping[str, str] | None = None
) -> Loaded:
    """Valid manifests with their secrets resolved (when asked), or InvalidManifests."""
    result = load_and_check(paths)
    if not result.errors and secrets:
        env = dict(os.environ if environ is None else environ)
        result.problems.extend(resolve_secrets(result.manifests, env))
    if result.errors:
        raise InvalidManifests(result.problems)
    if secrets:
        for loaded in result.manifests:
            for _, ref in loaded.manifest.destination.credentials:
                REDACTOR.add(ref.reveal())
    return Loaded(result.manifests, result.warnings)


def plan_target(target: Target) -> PlanTarget:
    return PlanTarget(kind=target.kind, url=target.url, org=target.org, sandbox=target.sandbox)


def read_managed(client: PlatformClient) -> ManagedState:
    return managed_state(read_live(client))


def plan_for(
    client: PlatformClient,
    manifests: Sequence[LoadedManifest],
    target: Target,
    prune: bool,
    environ: Mapping[str, str] | None = None,
) -> tuple[Plan, ManagedState]:
    desired = desired_state(manifests, target.org, target.sandbox, environ)
    managed = read_managed(client)
    return make_plan(desired, managed, plan_target(target), prune), managed
