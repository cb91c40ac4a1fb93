"""What a command runs against: the project file, its environment, the manifests' paths and
the target, from the command line, the environment variables and `provisioner.yaml`.

Never from a saved plan: `apply --plan` takes all of this as `plan` does, then compares.
The sandbox: --sandbox, then the selected environment, then `AEP_SANDBOX`. The platform URL
decides where the credentials go, so the operator (command line, job environment) decides
it before the repository does: --platform-url, then `AEP_PLATFORM_URL`, then the selected
environment of the project file, which may only name Adobe's platform or loopback. Paths
on the command line, else the project's `manifests` (relative to the project file, so a
command works from any directory of the repository). The embedded emulator's data is kept
at the project's root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import click

from provisioner.cli.planning import Scope
from provisioner.connect import select_target
from provisioner.errors import ProvisionerError
from provisioner.manifest.project import Environment, Project, find_project
from provisioner.plan.warnings import Safety
from provisioner.platform.target import Target, check_repository_url, configured
from provisioner.state.marker import DEFAULT_PROJECT

ENV_VARIABLE = "PROVISIONER_ENV"


@dataclass(frozen=True)
class RunContext:
    project: Project | None
    environment: str | None
    paths: tuple[Path, ...]
    target: Target
    scope: Scope

    @property
    def root(self) -> Path:
        """The project's root: the directory of the project file, else the working
        directory. Saved plans name manifests relative to it."""
        return self.project.root if self.project is not None else Path.cwd()

    @property
    def variables(self) -> dict[str, str] | None:
        """The values of `${var:…}`: None when no environment is selected."""
        if self.project is None or self.environment is None:
            return None
        return dict(self.project.environment(self.environment).vars)


def run_context(
    paths: Sequence[Path],
    env_name: str | None,
    sandbox: str | None,
    platform_url: str | None,
    use_emulator: bool,
    prune: bool = False,
    only: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    need_paths: bool = True,
) -> RunContext:
    environ = os.environ if environ is None else environ
    project = find_project(Path.cwd())
    name = env_name or environ.get(ENV_VARIABLE) or None
    environment = _environment(project, name)
    chosen_paths = tuple(paths) or (tuple(project.manifest_paths()) if project else ())
    if need_paths and not chosen_paths:
        raise click.UsageError("give manifest PATHS, or list `manifests` in provisioner.yaml")
    source = ""
    if not use_emulator:
        platform_url, source = _platform_url(platform_url, environ, project, name, environment)
    if sandbox is None and environment is not None:
        sandbox = environment.sandbox
    # With a project file, the embedded emulator lives at its root: one sandbox however deep
    # in the repository a command runs.
    workdir = project.root if project is not None else None
    target = select_target(
        environ, platform_url, sandbox, use_emulator, workdir=workdir, notify=_say_on_stderr
    )
    if target.kind == "platform":
        target = replace(target, source=source)
    scope = Scope(
        prune=prune,
        only=tuple(only),
        project=project.project if project else DEFAULT_PROJECT,
        environment=name,
        safety=_safety(project),
        clients=tuple(environment.clients) if environment is not None else (),
    )
    return RunContext(project, name, chosen_paths, target, scope)


def _say_on_stderr(line: str) -> None:
    click.echo(line, err=True)


def _platform_url(
    flag: str | None,
    environ: Mapping[str, str],
    project: Project | None,
    name: str | None,
    environment: Environment | None,
) -> tuple[str | None, str]:
    """The platform URL to pass on as chosen (None: AEP_PLATFORM_URL or the default, which
    `select_target` reads), and which setting named it (empty for the default)."""
    if flag is not None and flag.strip():
        return flag, "--platform-url"
    if configured(environ, "AEP_PLATFORM_URL"):
        return None, "AEP_PLATFORM_URL"
    if project is None or environment is None or environment.platformUrl is None:
        return None, ""
    # Checked again at use, not only when the project file loads: this is the one value of
    # the repository that decides where the operator's token is sent.
    setting = f"environments.{name}.platformUrl of {project.file}"
    return check_repository_url(environment.platformUrl, setting), (
        f"the project file's environment '{name}'"
    )


def _environment(project: Project | None, name: str | None) -> Environment | None:
    if name is None:
        return None
    if project is None:
        raise ProvisionerError(
            f"environment '{name}' was asked for (--env or {ENV_VARIABLE}), but there is no "
            "provisioner.yaml in this directory or a parent to define it"
        )
    return project.environment(name)


def _safety(project: Project | None) -> Safety:
    if project is None:
        return Safety()
    return Safety(project.safety.deleteThreshold, project.safety.minManaged)
