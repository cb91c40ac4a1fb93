"""Manifests: the YAML a user writes, as typed models with every node's position kept."""

from __future__ import annotations

from provisioner.manifest.checks import check_manifests, load_and_check, resolve_secrets
from provisioner.manifest.load import LoadedManifest, LoadResult, load_paths
from provisioner.manifest.model import (
    Audience,
    EventHubsDestination,
    KinesisDestination,
    Manifest,
    manifest_json_schema,
)
from provisioner.manifest.problems import Location, Problem
from provisioner.manifest.secrets import SecretRef

__all__ = [
    "Audience",
    "EventHubsDestination",
    "KinesisDestination",
    "LoadResult",
    "LoadedManifest",
    "Location",
    "Manifest",
    "Problem",
    "SecretRef",
    "check_manifests",
    "load_and_check",
    "load_paths",
    "manifest_json_schema",
    "resolve_secrets",
]
