"""What the tool owns on the platform, found by its markers, scoped to one project.

Identity: a dataflow is this project's when its target connection carries the tool's
marker and that target's account (base connection) is this project's; its key is the
name the marker records. A dataflow whose target has no marker but whose account is this
project's (brought in by `import`, whose documented writes reach the account only) is
this project's too, keyed by its live name; it is never pruned, since nothing the tool
wrote says it made it.

Copies: when two applies race, or a create's reply was lost twice, more than one object
may carry one key. The oldest flow is kept (creation time, then id: every reader agrees),
with its target, and the account the kept targets use; the rest are duplicates, which a
plan shows and apply deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.state.live import LiveState
from provisioner.state.marker import DEFAULT_PROJECT, project_of, read_marker

Resource = dict[str, Any]
UI_CLIENT = "exc_app"  # the Experience Platform UI, as the platform records its writes


@dataclass
class LiveFlow:
    key: str  # the manifest name its target's marker records (or its live name, if adopted)
    flow: Resource
    target: Resource
    applied: str  # the digest recorded at the last apply ("" if none)
    marked: bool = True  # False: found through its account only (never pruned)


@dataclass
class Duplicate:
    """A second copy of something this project manages, to be deleted."""

    kind: Literal["flow", "target", "account", "source"]
    key: str
    resource: Resource
    kept: str  # the id of the copy that stays
    project: str = DEFAULT_PROJECT


@dataclass
class Owned:
    """What one project owns, by the keys the manifests use."""

    accounts: dict[str, Resource] = field(default_factory=dict)
    flows: dict[str, LiveFlow] = field(default_factory=dict)
    idle_targets: dict[str, Resource] = field(default_factory=dict)  # no dataflow uses them


@dataclass
class ManagedState(Owned):
    """This project's objects, and what the plan must know of everything else."""

    project: str = DEFAULT_PROJECT
    profile_base: Resource | None = None
    profile_source: Resource | None = None
    foreign_flows: dict[str, Resource] = field(default_factory=dict)  # by name; no one's
    others: dict[str, Owned] = field(default_factory=dict)  # other projects', by project
    duplicates: list[Duplicate] = field(default_factory=list)
    taken_over: set[str] = field(default_factory=set)  # account keys moving to this project
    # The IMS clients whose writes are this tool's, as the platform records the last writer
    # of an object (`updatedClient`): see `tool_clients`.
    clients: frozenset[str] = frozenset()

    def flow_by_id(self, flow_id: str) -> LiveFlow | None:
        return next((f for f in self.flows.values() if f.flow.get("id") == flow_id), None)


def managed_state(
    live: LiveState, project: str = DEFAULT_PROJECT, client: str | None = None
) -> ManagedState:
    projects: dict[str, Owned] = {}
    duplicates: list[Duplicate] = []
    state = ManagedState(project=project, clients=tool_clients(live, client, project))
    accounts = _accounts(live.connections.values(), projects)
    for resource in oldest_first(live.connections.values()):
        if "profile" in (read_marker(resource) or {}) and state.profile_base is None:
            state.profile_base = resource
    state.profile_source = next(
        (s for s in oldest_first(live.sources.values()) if "profile" in (read_marker(s) or {})),
        None,
    )
    _flows(live, accounts, projects, state, duplicates)
    _settle_accounts(projects, accounts, live.connections, duplicates)
    mine = projects.pop(project, Owned())
    state.accounts, state.flows, state.idle_targets = mine.accounts, mine.flows, mine.idle_targets
    state.others = projects
    state.duplicates = [d for d in duplicates if d.project == project]
    if state.profile_source is None:  # one an imported dataflow uses serves as well
        state.profile_source = _source_in_use(state, live.sources)
    state.duplicates += _spare_profile_sources(state, live)
    return state


def _spare_profile_sources(state: ManagedState, live: LiveState) -> list[Duplicate]:
    """Profile sources the tool made beyond the one it uses (two applies at once, before
    they settled), that no dataflow uses: duplicates, whatever the project."""
    kept = state.profile_source
    if kept is None:
        return []
    used = {s for f in live.flows.values() for s in f.get("sourceConnectionIds") or []}
    return [
        Duplicate("source", "profile", source, kept["id"], state.project)
        for source in oldest_first(live.sources.values())
        if source["id"] != kept["id"]
        and source["id"] not in used
        and "profile" in (read_marker(source) or {})
    ]


def _source_in_use(state: ManagedState, sources: dict[str, Resource]) -> Resource | None:
    for live_flow in state.flows.values():
        for source_id in live_flow.flow.get("sourceConnectionIds") or []:
            if source_id in sources:
                return sources[source_id]
    return None


def tool_clients(
    live: LiveState, client: str | None, project: str = DEFAULT_PROJECT
) -> frozenset[str]:
    """The IMS clients whose writes are this tool's: the run's own (`client`, None when not
    known, as with a bare access token), and every client that made an object carrying this
    project's marker (its accounts and target connections are made with it), so that a plan
    run with other credentials than the apply (a read-only pull-request client) still knows
    the apply's writes. Never the Experience Platform UI's."""
    made = (
        resource.get("createdClient")
        for resource in [*live.connections.values(), *live.targets.values()]
        if (fields := read_marker(resource)) is not None and project_of(fields) == project
    )
    found = {c for c in made if isinstance(c, str) and c and c != UI_CLIENT}
    return frozenset(found | ({client} if client else set()))


def _accounts(
    connections: Iterable[Resource], projects: dict[str, Owned]
) -> dict[str, tuple[str, str]]:
    """Account id -> (project, key), for every account any project manages."""
    found: dict[str, tuple[str, str]] = {}
    for resource in oldest_first(connections):
        fields = read_marker(resource) or {}
        if "account" not in fields:
            continue
        project, key = project_of(fields), fields["account"]
        found[resource["id"]] = (project, key)
        projects.setdefault(project, Owned()).accounts.setdefault(key, resource)
    return found


def _flows(
    live: LiveState,
    accounts: dict[str, tuple[str, str]],
    projects: dict[str, Owned],
    state: ManagedState,
    duplicates: list[Duplicate],
) -> None:
    used_targets: set[str] = set()
    for flow in oldest_first(live.flows.values()):
        target = _first_target(flow, live.targets)
        owner = accounts.get(str((target or {}).get("baseConnectionId", "")))
        fields = read_marker(target or {})
        if target is None or (fields is None and owner is None):
            state.foreign_flows.setdefault(str(flow.get("name", "")), flow)
            continue
        used_targets.add(target["id"])
        project = owner[0] if owner else project_of(fields or {})
        key = str((fields or {}).get("dataflow") or flow.get("name", ""))
        owned = projects.setdefault(project, Owned())
        candidate = LiveFlow(
            key, flow, target, (fields or {}).get("applied", ""), fields is not None
        )
        kept = owned.flows.get(key)
        if kept is None:
            owned.flows[key] = candidate
            continue
        duplicates.append(Duplicate("flow", key, flow, kept.flow["id"], project))
        if target["id"] != kept.target["id"]:
            duplicates.append(Duplicate("target", key, target, kept.target["id"], project))
    for target in oldest_first(live.targets.values()):
        fields = read_marker(target) or {}
        owner = accounts.get(str(target.get("baseConnectionId", "")))
        if target["id"] in used_targets or "dataflow" not in fields:
            continue
        project = owner[0] if owner else project_of(fields)
        projects.setdefault(project, Owned()).idle_targets.setdefault(fields["dataflow"], target)


def _settle_accounts(
    projects: dict[str, Owned],
    accounts: dict[str, tuple[str, str]],
    connections: dict[str, Resource],
    duplicates: list[Duplicate],
) -> None:
    """Of several accounts with one key, keep the one the kept targets use (the oldest of
    those, or the oldest of all when none is used); the others are duplicates."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for account_id, owner in accounts.items():  # oldest first: `accounts` was built so
        by_key.setdefault(owner, []).append(account_id)
    for (project, key), ids in by_key.items():
        if len(ids) < 2:
            continue
        owned = projects[project]
        used = {str(f.target.get("baseConnectionId")) for f in owned.flows.values()}
        kept_id = next((i for i in ids if i in used), ids[0])
        owned.accounts[key] = connections[kept_id]
        duplicates.extend(
            Duplicate("account", key, connections[i], kept_id, project)
            for i in ids
            if i != kept_id and i not in used
        )


def _first_target(flow: Resource, targets: dict[str, Resource]) -> Resource | None:
    for target_id in flow.get("targetConnectionIds") or []:
        if target_id in targets:
            return targets[target_id]
    return None


def oldest_first(resources: Iterable[Resource]) -> list[Resource]:
    return sorted(resources, key=lambda r: (r.get("createdAt", 0), r.get("id", "")))
