"""One error hierarchy: every user-facing failure carries the exit code it maps to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERNAL = 3


class ProvisionerError(Exception):
    """An error the user can act on; the CLI prints its message and exits 1."""

    exit_code = EXIT_USER_ERROR


class ManifestError(ProvisionerError):
    """One or more manifests are invalid; the problems were already reported."""


class TargetError(ProvisionerError):
    """The platform target cannot be chosen or reached as configured."""


class PlatformError(ProvisionerError):
    """The platform answered with an error the user must act on."""
