"""Checking the destinations of loaded manifests: the module (and SDK) of each type present,
loaded only now, and one check per manifest, run concurrently, each within its own timeout."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Sequence

from provisioner.errors import ProvisionerError
from provisioner.manifest import LoadedManifest
from provisioner.platform.redact import REDACTOR
from provisioner.preflight.model import (
    Checked,
    Checker,
    CheckReport,
    Deadline,
    Finding,
    Service,
)
from provisioner.preflight.pool import run_checks
from provisioner.preflight.record import encoded, record_for

INSTALL = "pip install 'provisioner[check]'"
# The top-level packages of the SDKs: an ImportError naming another is a bug, not a missing extra.
_SDK_ROOTS = frozenset({"boto3", "botocore", "s3transfer", "azure"})


class MissingExtra(ProvisionerError):
    """The SDK a destination type needs is not installed (exit 1)."""


def module_of(type_name: str) -> str:
    """The module that asks a type's service: named after the type."""
    return f"{__package__}.{type_name.replace('-', '_')}"


def services_for(types: Collection[str]) -> dict[str, Service]:
    """The service of each destination type in `types`, its SDK imported now; MissingExtra
    naming the install command when one is not installed."""
    found: dict[str, Service] = {}
    for name in sorted(types):
        try:
            module = importlib.import_module(module_of(name))
        except ImportError as error:
            if (error.name or "").split(".")[0] not in _SDK_ROOTS:
                raise
            raise MissingExtra(
                f"checking {name} destinations needs {error.name}, which is not installed; "
                f"install the cloud SDKs with: {INSTALL}"
            ) from None
        service = getattr(module, "SERVICE", None)
        if not isinstance(service, Service):
            raise TypeError(f"{module.__name__} has no SERVICE")
        found[name] = service
    return found


def check_manifests(
    manifests: Sequence[LoadedManifest], timeout: float, workers: int, send: bool
) -> CheckReport:
    """Every manifest's destination asked, `workers` at once, each within `timeout`
    seconds; with `send`, each also writes one test record."""
    services = services_for({m.manifest.destination.type for m in manifests})
    # One checker per type for the run: manifests of one account may share what is read.
    checkers = {name: service.checker() for name, service in services.items()}

    def check_of(loaded: LoadedManifest) -> Callable[[Deadline], Finding]:
        destination = loaded.manifest.destination
        checker: Checker = checkers[destination.type]
        record = encoded(record_for(loaded.manifest)) if send else None
        return lambda deadline: checker(destination, deadline, record)

    findings = run_checks([check_of(m) for m in manifests], timeout, workers)
    checked = [
        _checked(m, services[m.manifest.destination.type], f)
        for m, f in zip(manifests, findings, strict=True)
    ]
    return CheckReport(checked, timeout, send)


def _checked(loaded: LoadedManifest, service: Service, finding: Finding) -> Checked:
    """The line of one manifest; the finding's words pass the run's secret redactor (an
    SDK's message may quote what it was given)."""
    destination = loaded.manifest.destination
    said = Finding(finding.outcome, REDACTOR(finding.message), finding.sent)
    return Checked(
        name=loaded.manifest.name,
        source=str(loaded.locate("destination", service.target_field)[0]),
        type=destination.type,
        target=service.describe(destination),
        finding=said,
    )
