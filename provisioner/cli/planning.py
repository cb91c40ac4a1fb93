"""The steps commands share: load and check manifests, choose the target, read, plan."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click

from provisioner.errors import ManifestError, ProvisionerError
from provisioner.manifest import LoadedManifest, Problem, load_and_check, resolve_secrets
from provisioner.manifest.load import collector_paused
from provisioner.manifest.problems import errors_in
from provisioner.manifest.variables import substitute_vars, variable_uses
from provisioner.plan.build import Safety, make_plan
from provisioner.plan.model import Plan, PlanTarget
from provisioner.platform.audiences import AudienceReader
from provisioner.platform.client import PlatformClient
from provisioner.platform.redact import REDACTOR
from provisioner.platform.target import Target
from provisioner.render.safe import for_terminal
from provisioner.state.audiences import resolve_audiences
from provisioner.state.desired import FINGERPRINT_KEY_VARIABLE, desired_state
from provisioner.state.live import read_live
from provisioner.state.managed import ManagedState, managed_state, nfc
from provisioner.state.marker import DEFAULT_PROJECT


class InvalidManifests(ManifestError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = len(errors_in(problems))
        super().__init__(f"{errors} problem(s) in the manifests; nothing was read or changed")


class UnresolvedAudiences(InvalidManifests):
    """The manifests' audiences do not all resolve in the target sandbox."""

    def __init__(self, problems: list[Problem], sandbox: str) -> None:
        super().__init__(problems)
        errors = len(errors_in(problems))
        self.args = (
            f"{errors} problem(s) with the manifests' audiences in sandbox '{sandbox}'; "
            "nothing was changed",
        )


@dataclass
class Loaded:
    manifests: list[LoadedManifest]
    warnings: list[Problem]


def load_manifests(
    paths: Sequence[str | Path],
    secrets: bool,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    environment: str | None = None,
) -> Loaded:
    """Valid manifests, their `${var:}` values put in (those of `variables`, the selected
    environment's) and their secrets resolved (when asked), or InvalidManifests."""
    result = load_and_check(paths)
    if not result.errors and (variables is not None or variable_uses(result.manifests)):
        result.manifests, problems = substitute_vars(result.manifests, variables or {}, environment)
        result.problems.extend(problems)
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


@dataclass(frozen=True)
class Scope:
    """What a run covers, from the command line and the project file (never a plan file)."""

    prune: bool = False
    only: tuple[str, ...] = ()
    project: str = DEFAULT_PROJECT
    environment: str | None = None
    safety: Safety = field(default_factory=Safety)
    clients: tuple[str, ...] = ()  # the environment's `clients`: writes that are the tool's


def plan_target(target: Target, scope: Scope | None = None) -> PlanTarget:
    scope = scope or Scope()
    return PlanTarget(
        kind=target.kind,
        url=target.url,
        org=target.org,
        sandbox=target.sandbox,
        environment=scope.environment,
        project=scope.project,
        url_source=target.source,
    )


def read_managed(client: PlatformClient, scope: Scope | None = None) -> ManagedState:
    scope = scope or Scope()
    live = read_live(client)
    clients = frozenset(scope.clients) | (
        {client.target.client_id} if client.target.client_id else set()
    )
    key = os.environ.get(FINGERPRINT_KEY_VARIABLE) or None
    return managed_state(live, scope.project, clients, scope.environment, key)


@dataclass(frozen=True)
class Named:
    """What claiming needs of a manifest when nothing else of it is (destroy)."""

    name: str
    renamed_from: list[str]
    source: str


def named(manifests: Sequence[LoadedManifest]) -> dict[str, Named]:
    return {
        m.manifest.name: Named(
            m.manifest.name,
            list(getattr(m.manifest, "renamedFrom", None) or []),
            str(m.locate("name")[0]),
        )
        for m in manifests
    }


def only_unmatched(only: Sequence[str], names: Iterable[str]) -> list[str]:
    """The `--only` names that match none of `names` (compared after NFC)."""
    known = {nfc(n) for n in names}
    return sorted(n for n in only if nfc(n) not in known)


def refuse_unmatched_only(unmatched: Sequence[str], where: str) -> None:
    if unmatched:
        raise ProvisionerError(
            f"--only {', '.join(map(repr, unmatched))} matches no {where}; nothing was "
            "planned (check the spelling)"
        )


def show_problem(problem: Problem) -> None:
    click.echo(for_terminal(problem.format()), err=True)


def plan_for(
    client: PlatformClient,
    manifests: Sequence[LoadedManifest],
    target: Target,
    scope: Scope,
    environ: Mapping[str, str] | None = None,
    report: Callable[[Problem], None] = show_problem,
) -> tuple[Plan, ManagedState]:
    """The plan of `manifests` against the target. Their audiences are resolved in the
    sandbox while the Flow Service is read (both only read): a problem there is reported
    (through `report`, as manifest problems are) and raises InvalidManifests before any
    plan is made, so nothing is written."""
    if scope.prune and not manifests:
        raise ProvisionerError(
            "--prune with no manifests would delete every dataflow this project manages; "
            "refused (to delete them, use `provisioner destroy` with their manifests)"
        )
    only = [nfc(n) for n in scope.only]
    chosen = [m for m in manifests if not only or m.manifest.name in only]
    unmatched = only_unmatched(only, (m.manifest.name for m in manifests))
    if not scope.prune:
        refuse_unmatched_only(unmatched, "manifest")
    # What is read and planned all stays alive until the plan is made: see collector_paused.
    with collector_paused(), ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(read_managed, client, scope)
        resolution = resolve_audiences(AudienceReader(client), chosen, target.sandbox)
        for problem in sorted(resolution.problems, key=lambda p: (p.location, p.message)):
            report(problem)
        if resolution.errors:
            raise UnresolvedAudiences(resolution.problems, target.sandbox)
        desired = desired_state(resolution.manifests, target.org, target.sandbox, environ)
        managed = reading.result()
        the_plan = make_plan(
            desired,
            managed,
            plan_target(target, scope),
            scope.prune,
            only,
            scope.safety,
            audience_names=resolution.names_by_id,
        )
    managed_names = [*managed.flows, *(f.name for f in managed.flows.values())]
    refuse_unmatched_only(only_unmatched(unmatched, managed_names), "manifest or managed dataflow")
    return the_plan, managed
