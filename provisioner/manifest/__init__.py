"""Manifests: the YAML a user writes, as typed models with every node's position kept."""

from __future__ import annotations

from provisioner.fields.secrets import SecretRef
from provisioner.manifest.audiences import AudienceRef, audience_refs
from provisioner.manifest.checks import check_manifests, load_and_check, resolve_secrets
from provisioner.manifest.load import LoadedManifest, LoadResult, load_paths
from provisioner.manifest.model import (
    Audience,
    IdentifiedAudience,
    Manifest,
    UnresolvedAudienceError,
    manifest_json_schema,
)
from provisioner.manifest.problems import Location, Problem
from provisioner.manifest.project import (
    Environment,
    Project,
    ProjectError,
    Safety,
    check_environments,
    find_project,
    load_project,
    project_json_schema,
)
from provisioner.manifest.variables import VariableUse, substitute_vars, variable_uses

__all__ = [
    "Audience",
    "AudienceRef",
    "Environment",
    "IdentifiedAudience",
    "LoadResult",
    "LoadedManifest",
    "Location",
    "Manifest",
    "Problem",
    "Project",
    "ProjectError",
    "Safety",
    "SecretRef",
    "UnresolvedAudienceError",
    "VariableUse",
    "audience_refs",
    "check_environments",
    "check_manifests",
    "find_project",
    "load_and_check",
    "load_paths",
    "load_project",
    "manifest_json_schema",
    "project_json_schema",
    "resolve_secrets",
    "substitute_vars",
    "variable_uses",
]
