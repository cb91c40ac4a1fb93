"""What the tool can prove it owns on the platform, for one project and environment.

Live objects are parsed once, here, into typed records. A dataflow is this scope's only
on evidence the tool wrote itself:

- made: its target connection carries the marker the tool writes when it creates one
  (`dataflow=NAME`, with project and environment); no document shows a later write to a
  target connection, so this is written once and never by anyone else's tooling;
- ledger: its account's marker lists it (`flow.<id>=NAME`): the tool imported it, or
  renamed it (an account takes documented writes to its description, so the name the tool
  last gave a dataflow is recorded there on every platform);
- legacy: the previous release imported dataflows by marking their account only, so on an
  account whose marker that release wrote (`v2`), a dataflow with an unmarked target may be
  such an import. It is claimed only by a manifest of exactly its live name that nothing
  better claims, never pruned and never counted as managed until then.

Everything else is foreign: never changed, deleted or counted. The scope of a dataflow is
its account's (an account's marker can be rewritten: a take-over moves it), else its
target's; a marker without an environment (written before environments were recorded)
belongs to every environment of its project.

Which manifest a dataflow is, and what is a duplicate, is `plan/identity.py`'s: both
depend on the manifests. Which connections are still in use has one answer, `in_use`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.fields.common import to_nfc
from provisioner.platform.ids import PLATFORM_CLIENTS, UI_CLIENT
from provisioner.state.live import LiveState
from provisioner.state.marker import (
    DEFAULT_PROJECT,
    env_of,
    ledger_of,
    marker_version,
    project_of,
    read_marker,
)
from provisioner.state.writers import verified, writers_of

Resource = dict[str, Any]
Evidence = Literal["made", "ledger", "legacy"]
_NOT_THE_TOOL = PLATFORM_CLIENTS | {UI_CLIENT}


def nfc(name: Any) -> str:
    """A live name as names are compared: text, in Unicode NFC (see `to_nfc`)."""
    return str(to_nfc(str(name or "")))


@dataclass(frozen=True)
class Scope:
    """Whose an object is: a project, and the environment it was made for (None: not
    recorded, which matches every environment of the project)."""

    project: str = DEFAULT_PROJECT
    env: str | None = None

    def holds(self, other: Scope) -> bool:
        """Whether an object of `other`'s scope is this run's."""
        return other.project == self.project and (other.env is None or other.env == self.env)


@dataclass
class LiveAccount:
    resource: Resource
    key: str
    scope: Scope
    version: int  # the marker's: 2 for the previous release's, 3 for this one's
    ledger: dict[str, str]  # flow id -> the name the tool last gave it
    writers: dict[str, str] = field(default_factory=dict)  # client -> mac (`state/writers`)

    @property
    def id(self) -> str:
        return str(self.resource["id"])


@dataclass
class LiveFlow:
    """A dataflow this scope can prove it owns, with its target connection."""

    flow: Resource
    target: Resource
    evidence: Evidence
    recorded: str  # the name the tool last gave it (its ledger's, its target's, or live)
    applied: str = ""  # the digest recorded at the last apply ("" if none)
    key: str = ""  # the manifest name that claims it; its recorded name until claimed

    @property
    def id(self) -> str:
        return str(self.flow["id"])

    @property
    def name(self) -> str:
        return nfc(self.flow.get("name"))

    @property
    def account_id(self) -> str:
        return str(self.target.get("baseConnectionId") or "")

    @property
    def marked(self) -> bool:
        """Whether something the tool wrote names this dataflow (prunable)."""
        return self.evidence != "legacy"


@dataclass
class Duplicate:
    """A second copy of something this scope manages, to be deleted."""

    kind: Literal["flow", "target", "account", "source"]
    key: str
    resource: Resource
    kept: str  # the id of the copy that stays
    project: str = DEFAULT_PROJECT


@dataclass
class Owned:
    """What one scope owns: accounts by key, provable dataflows, unused targets by name."""

    accounts: dict[str, Resource] = field(default_factory=dict)
    candidates: list[LiveFlow] = field(default_factory=list)
    idle_targets: dict[str, Resource] = field(default_factory=dict)


@dataclass
class ManagedState:
    """This scope's objects, and what the plan must know of everything else."""

    project: str = DEFAULT_PROJECT
    env: str | None = None
    accounts: dict[str, Resource] = field(default_factory=dict)
    candidates: list[LiveFlow] = field(default_factory=list)  # provable, before claims
    idle_targets: dict[str, Resource] = field(default_factory=dict)  # no dataflow uses them
    # After `plan.identity.claim`: by manifest name, and the unclaimed by a key of their own.
    flows: dict[str, LiveFlow] = field(default_factory=dict)
    profile_base: Resource | None = None
    profile_source: Resource | None = None
    foreign: list[Resource] = field(default_factory=list)  # dataflows no scope can prove
    others: dict[str, Owned] = field(default_factory=dict)  # other projects', by project
    duplicates: list[Duplicate] = field(default_factory=list)
    taken_over: set[str] = field(default_factory=set)  # account keys moving to this project
    renamed_accounts: dict[str, str] = field(default_factory=dict)  # new key -> old key
    foreign_sharing: list[tuple[str, str]] = field(default_factory=list)  # (name, flow id)
    all_flows: dict[str, Resource] = field(default_factory=dict)  # every dataflow read
    all_targets: dict[str, Resource] = field(default_factory=dict)
    account_records: dict[str, LiveAccount] = field(default_factory=dict)  # by id
    # The IMS clients whose writes are this tool's, as the platform records the last writer
    # of an object (`updatedClient`): the run's own and the environment's `clients`.
    clients: frozenset[str] = frozenset()

    @property
    def scope(self) -> Scope:
        return Scope(self.project, self.env)

    def flow_by_id(self, flow_id: str) -> LiveFlow | None:
        found = {f.id: f for f in [*self.flows.values(), *self.candidates]}
        return found.get(flow_id)

    def in_use(self, connection_id: str, gone: Iterable[str] = ()) -> list[str]:
        """The ids of the dataflows of the sandbox (any project, made by anyone) that use a
        connection: as their source, their target, or their target's account; `gone` aside."""
        if self._users is None:
            self._users = _users(self.all_flows, self.all_targets)
        excluded = set(gone)
        return [f for f in self._users.get(connection_id, []) if f not in excluded]

    _users: dict[str, list[str]] | None = None


def _users(flows: dict[str, Resource], targets: dict[str, Resource]) -> dict[str, list[str]]:
    """Connection id -> the ids of the dataflows that use it, indexed once."""
    users: dict[str, list[str]] = {}
    for flow in flows.values():
        refs = {str(s) for s in flow.get("sourceConnectionIds") or []}
        for target_id in flow.get("targetConnectionIds") or []:
            refs.add(str(target_id))
            target = targets.get(str(target_id))
            if target is not None and target.get("baseConnectionId"):
                refs.add(str(target["baseConnectionId"]))
        for ref in refs:
            users.setdefault(ref, []).append(str(flow["id"]))
    return users


def managed_state(
    live: LiveState,
    project: str = DEFAULT_PROJECT,
    clients: Iterable[str] = (),
    env: str | None = None,
    writer_key: str | None = None,
) -> ManagedState:
    """`clients`: the IMS clients whose writes are the tool's (the run's own and those the
    project file lists for the environment). Never inferred from who made or last wrote an
    object, which could be anyone; only writers recorded under `writer_key`
    (PROVISIONER_FINGERPRINT_KEY, see `state/writers.py`) are added."""
    scope = Scope(project, env)
    accounts = _accounts(live.connections.values())
    recorded = {
        client
        for record in accounts.values()
        if scope.holds(record.scope)
        for client in verified(record.writers, writer_key, project, env, record.id)
    }
    tools = frozenset(c for c in [*clients, *recorded] if c and c not in _NOT_THE_TOOL)
    state = ManagedState(project=project, env=env, clients=tools)
    state.all_flows, state.all_targets = live.flows, live.targets
    state.account_records = accounts
    owned: dict[Scope, Owned] = {}
    _flows(live, state, owned)
    _idle_targets(live, state, owned)
    for record in state.account_records.values():
        owned.setdefault(record.scope, Owned()).accounts.setdefault(record.key, record.resource)
    mine = Owned()
    for found_scope, found in owned.items():
        if scope.holds(found_scope):
            _merge(mine, found)
        elif found_scope.project != project:
            _merge(state.others.setdefault(found_scope.project, Owned()), found)
    state.accounts, state.candidates = mine.accounts, mine.candidates
    state.idle_targets = mine.idle_targets
    state.duplicates = _duplicate_accounts(state, live.connections)
    _profile(state, live)
    return state


def _merge(into: Owned, found: Owned) -> None:
    for key, account in found.accounts.items():
        into.accounts.setdefault(key, account)
    into.candidates += found.candidates
    for key, target in found.idle_targets.items():
        into.idle_targets.setdefault(key, target)


def _accounts(connections: Iterable[Resource]) -> dict[str, LiveAccount]:
    found = {}
    for resource in oldest_first(connections):
        fields = read_marker(resource) or {}
        if "account" in fields:
            found[str(resource["id"])] = LiveAccount(
                resource,
                fields["account"],
                Scope(project_of(fields), env_of(fields)),
                marker_version(resource),
                ledger_of(fields),
                writers_of(fields),
            )
    return found


def _flows(live: LiveState, state: ManagedState, owned: dict[Scope, Owned]) -> None:
    for flow in oldest_first(live.flows.values()):
        target = _first_target(flow, live.targets)
        record = _owned_flow(flow, target, state.account_records)
        if record is None or target is None:
            state.foreign.append(flow)
            continue
        found, scope = record
        owned.setdefault(scope, Owned()).candidates.append(found)


def _owned_flow(
    flow: Resource, target: Resource | None, accounts: dict[str, LiveAccount]
) -> tuple[LiveFlow, Scope] | None:
    """The dataflow as a record of its owner's, with the evidence, or None if foreign."""
    if target is None:
        return None
    account = accounts.get(str(target.get("baseConnectionId") or ""))
    fields = read_marker(target) or {}
    made = "dataflow" in fields
    applied = fields.get("applied", "")
    if account is not None and str(flow["id"]) in account.ledger:
        name = nfc(account.ledger[str(flow["id"])])
        return LiveFlow(flow, target, "ledger", name, applied, name), account.scope
    if made:
        target_scope = Scope(project_of(fields), env_of(fields))
        scope = _account_scope(account, target_scope)
        name = nfc(fields["dataflow"])
        return LiveFlow(flow, target, "made", name, applied, name), scope
    if account is not None and account.version < 3:
        name = nfc(flow.get("name"))
        return LiveFlow(flow, target, "legacy", name, "", name), account.scope
    return None


def _account_scope(account: LiveAccount | None, target_scope: Scope) -> Scope:
    """An account's project decides (a take-over rewrites only the account); its
    environment, when it records one, else the target's."""
    if account is None:
        return target_scope
    return Scope(account.scope.project, account.scope.env or target_scope.env)


def _idle_targets(live: LiveState, state: ManagedState, owned: dict[Scope, Owned]) -> None:
    """Targets the tool made that no dataflow uses (an apply stopped between the two)."""
    used = {str(t) for f in live.flows.values() for t in f.get("targetConnectionIds") or []}
    for target in oldest_first(live.targets.values()):
        fields = read_marker(target) or {}
        if target["id"] in used or "dataflow" not in fields:
            continue
        account = state.account_records.get(str(target.get("baseConnectionId") or ""))
        scope = _account_scope(account, Scope(project_of(fields), env_of(fields)))
        owned.setdefault(scope, Owned()).idle_targets.setdefault(nfc(fields["dataflow"]), target)


def _duplicate_accounts(state: ManagedState, connections: dict[str, Resource]) -> list[Duplicate]:
    """Of several accounts of this scope with one key, the one its dataflows use is kept
    (the oldest of those, or the oldest of all); the others are duplicates when no dataflow
    of the sandbox uses them."""
    by_key: dict[str, list[str]] = {}
    for record in state.account_records.values():  # oldest first
        if state.scope.holds(record.scope):
            by_key.setdefault(record.key, []).append(record.id)
    used = {f.account_id for f in state.candidates}
    duplicates = []
    for key, ids in by_key.items():
        if len(ids) < 2:
            continue
        kept_id = next((i for i in ids if i in used), ids[0])
        state.accounts[key] = connections[kept_id]
        duplicates += [
            Duplicate("account", key, connections[i], kept_id, state.project)
            for i in ids
            if i != kept_id and not state.in_use(i)
        ]
    return duplicates


def _profile(state: ManagedState, live: LiveState) -> None:
    for resource in oldest_first(live.connections.values()):
        if "profile" in (read_marker(resource) or {}) and state.profile_base is None:
            state.profile_base = resource
    state.profile_source = next(
        (s for s in oldest_first(live.sources.values()) if "profile" in (read_marker(s) or {})),
        None,
    )
    if state.profile_source is None:  # one an imported dataflow uses serves as well
        state.profile_source = _source_in_use(state, live.sources)
    state.duplicates += _spare_profile_sources(state, live)


def _spare_profile_sources(state: ManagedState, live: LiveState) -> list[Duplicate]:
    """Profile sources the tool made beyond the one it uses (two applies at once, before
    they settled), that no dataflow uses: duplicates, whatever the project."""
    kept = state.profile_source
    if kept is None:
        return []
    return [
        Duplicate("source", "profile", source, kept["id"], state.project)
        for source in oldest_first(live.sources.values())
        if source["id"] != kept["id"]
        and not state.in_use(str(source["id"]))
        and "profile" in (read_marker(source) or {})
    ]


def _source_in_use(state: ManagedState, sources: dict[str, Resource]) -> Resource | None:
    for live_flow in state.candidates:
        for source_id in live_flow.flow.get("sourceConnectionIds") or []:
            if source_id in sources:
                return sources[source_id]
    return None


def _first_target(flow: Resource, targets: dict[str, Resource]) -> Resource | None:
    for target_id in flow.get("targetConnectionIds") or []:
        if target_id in targets:
            return targets[target_id]
    return None


def oldest_first(resources: Iterable[Resource]) -> list[Resource]:
    return sorted(resources, key=_age)


def _age(resource: Resource) -> tuple[float, str]:
    """Creation time, then id: every reader agrees. A creation time that is not a number
    (a platform answering garbage) sorts first rather than failing the run."""
    created = resource.get("createdAt", 0)
    if isinstance(created, bool) or not isinstance(created, int | float):
        created = 0
    return (float(created), str(resource.get("id", "")))
