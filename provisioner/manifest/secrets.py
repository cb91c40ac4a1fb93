"""The manifests' secret references: checked against what the operator allows, resolved.

The repository decides what is wanted; the operator (the job's command line and environment)
decides which secrets may be read. A reference the operator does not allow is refused by
its form alone (a variable's name, a file's place), so `validate`, which has no secrets,
reports it as `plan` and `apply` do, before any request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from provisioner.fields.secrets import (
    SecretBoundaries,
    SecretRef,
    SecretRefused,
    SecretResolutionError,
)
from provisioner.manifest.files import project_root
from provisioner.manifest.load import LoadedManifest
from provisioner.manifest.problems import Problem


def secret_boundaries(environ: Mapping[str, str] | None = None) -> SecretBoundaries:
    """What the operator lets manifests read, from `environ` (default: the process's)."""
    return SecretBoundaries.from_environ(project_root(), os.environ if environ is None else environ)


def reference_problems(
    manifests: Sequence[LoadedManifest], environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """An error for every reference that reaches what the operator does not allow; nothing
    is read."""
    boundaries = secret_boundaries(environ)
    problems = []
    for loaded in manifests:
        for key, ref in _references(loaded):
            try:
                boundaries.check(ref, loaded.file.parent)
            except SecretRefused as error:
                problems.append(_problem(loaded, key, f"{ref} is refused: {error}"))
    return problems


def resolve_secrets(
    manifests: Sequence[LoadedManifest], environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """Resolve every secret reference the operator allows; one problem per reference that
    is refused or cannot be resolved."""
    environ = dict(os.environ if environ is None else environ)
    boundaries = secret_boundaries(environ)
    problems = []
    for loaded in manifests:
        for key, ref in _references(loaded):
            try:
                ref.resolve(loaded.file.parent, environ, boundaries)
            except SecretRefused as error:
                problems.append(_problem(loaded, key, f"{ref} is refused: {error}"))
            except SecretResolutionError as error:
                problems.append(_problem(loaded, key, f"cannot resolve {ref}: {error}"))
    return problems


def _references(loaded: LoadedManifest) -> list[tuple[str, SecretRef]]:
    return [
        (key, ref)
        for key, ref in loaded.manifest.destination.credentials
        if isinstance(ref, SecretRef)
    ]


def _problem(loaded: LoadedManifest, key: str, message: str) -> Problem:
    return loaded.problem("error", message, "destination", "credentials", key)
