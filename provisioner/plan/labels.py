"""Audience names in a plan, from the platform where the manifests give none."""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.plan.model import AudienceChanges


def with_platform_names(
    names: Mapping[str, str], changes: AudienceChanges, platform_names: Mapping[str, str]
) -> dict[str, str]:
    """`names` and, for each audience the change shows that they leave unnamed, its name on
    the platform (`platform_names` is keyed by the id in lower case), so every audience
    shows with its name and id. Those added come after the given ones, in the change's
    order."""
    named = dict(names)
    for audience_id in (*changes.add, *changes.remove, *changes.update):
        found = platform_names.get(audience_id.lower())
        if found and not named.get(audience_id):
            named[audience_id] = found
    return named
