"""Live platform objects and desired dataflows built by hand, for planning in-process.

The live objects carry the markers apply writes (`provisioner.apply.requests`), so what a
test seeds is what a real apply would have left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from provisioner import destinations
from provisioner.plan.build import Safety, make_plan
from provisioner.plan.diff import digest_of, profile_selector, segment_selector
from provisioner.plan.model import AnyChange, Plan, PlanTarget
from provisioner.state.desired import DesiredAccount, DesiredAudience, DesiredFlow, DesiredState
from provisioner.state.live import LiveState
from provisioner.state.managed import ManagedState, managed_state
from provisioner.state.marker import DEFAULT_PROJECT, marker, read_marker

Resource = dict[str, Any]
KINESIS = "amazon-kinesis"
EVENT_HUBS = "azure-event-hubs"
FINGERPRINT = "0" * 32
PLACES = {KINESIS: {"region": "us-east-1"}, EVENT_HUBS: {"namespace": "contoso-events"}}


def target_params(kind: str, stream: str = "orders") -> dict[str, str]:
    if kind == KINESIS:
        return {"stream": stream, "region": "us-east-1"}
    return {"eventHubName": stream}


def _scope(project: str) -> dict[str, str]:
    return {} if project == DEFAULT_PROJECT else {"project": project}


def account_resource(
    account_id: str,
    key: str,
    fingerprint: str = FINGERPRINT,
    project: str = DEFAULT_PROJECT,
    kind: str = KINESIS,
    created: int = 0,
) -> Resource:
    return {
        "id": account_id,
        "etag": f'"{account_id}-1"',
        "name": key,
        "description": marker(**_scope(project), account=key, fingerprint=fingerprint),
        "connectionSpec": {"id": destinations.by_type(kind).spec_id, "version": "1.0"},
        "auth": {"params": dict(PLACES[kind])},
        "createdAt": created,
    }


def target_resource(
    target_id: str,
    key: str | None,
    account_id: str,
    kind: str = KINESIS,
    stream: str = "orders",
    project: str = DEFAULT_PROJECT,
    created: int = 0,
) -> Resource:
    """A target connection; `key` None: one without the tool's marker (an import)."""
    description = "" if key is None else marker(**_scope(project), dataflow=key)
    return {
        "id": target_id,
        "etag": f'"{target_id}-1"',
        "name": key or "made elsewhere",
        "description": description,
        "baseConnectionId": account_id,
        "connectionSpec": {"id": destinations.by_type(kind).spec_id, "version": "1.0"},
        "params": target_params(kind, stream),
        "createdAt": created,
    }


def flow_resource(
    flow_id: str,
    name: str,
    target_id: str,
    audiences: Sequence[str] = (),
    attributes: Sequence[str] = (),
    created: int = 0,
    enabled: bool = True,
    description: str = "",
) -> Resource:
    segments = [segment_selector(DesiredAudience(a)) for a in audiences]
    return {
        "id": flow_id,
        "etag": f'"{flow_id}-1"',
        "name": name,
        "description": description,
        "state": "enabled" if enabled else "disabled",
        "sourceConnectionIds": ["source-1"],
        "targetConnectionIds": [target_id],
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "segmentSelectors": {"selectors": segments},
                    "profileSelectors": {"selectors": [profile_selector(p) for p in attributes]},
                },
            }
        ],
        "createdAt": created,
    }


def record_applied(flow: Resource, target: Resource, project: str = DEFAULT_PROJECT) -> None:
    """As apply leaves a target: its marker with the digest of what it applied."""
    fields = {**_scope(project), "dataflow": target_key(target)}
    digest = digest_of(flow, target)
    target["description"] = f"{marker(**fields)}; applied={digest}"


def target_key(target: Resource) -> str:
    return (read_marker(target) or {})["dataflow"]


class Live:
    """A live sandbox under construction: `chain` adds a dataflow as apply would make it."""

    def __init__(self) -> None:
        self.state = LiveState()
        self.clock = 0
        profile: Resource = {"id": "profile-base", "description": marker(profile="")}
        source: Resource = {"id": "source-1", "description": marker(profile="")}
        self.state.connections["profile-base"] = profile
        self.state.sources["source-1"] = source

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def account(
        self, key: str, project: str = DEFAULT_PROJECT, kind: str = KINESIS, account_id: str = ""
    ) -> Resource:
        resource = account_resource(
            account_id or f"acc-{key}-{self.clock}", key, project=project, kind=kind
        )
        resource["createdAt"] = self.tick()
        self.state.connections[resource["id"]] = resource
        return resource

    def chain(
        self,
        key: str,
        account: Resource | None = None,
        audiences: Sequence[str] = (),
        attributes: Sequence[str] = (),
        live_name: str | None = None,
        kind: str = KINESIS,
        project: str = DEFAULT_PROJECT,
        marked: bool = True,
        applied: bool = True,
    ) -> tuple[Resource, Resource]:
        """A dataflow keyed `key` (with its target, and its own account unless given)."""
        if account is None:
            account = self.account(f"{key}-account", project, kind)
        number = self.tick()
        target = target_resource(
            f"tgt-{key}-{number}", key if marked else None, account["id"], kind, project=project
        )
        target["createdAt"] = number
        flow = flow_resource(
            f"flow-{key}-{number}", live_name or key, target["id"], audiences, attributes, number
        )
        if marked and applied:
            record_applied(flow, target, project)
        self.state.targets[target["id"]] = target
        self.state.flows[flow["id"]] = flow
        return flow, target

    def managed(
        self, project: str = DEFAULT_PROJECT, client: str | None = None, clients: Sequence[str] = ()
    ) -> ManagedState:
        """`client`: the run's own; `clients`: those the project file lists."""
        return managed_state(self.state, project, [*([client] if client else []), *clients])


def desired_flow(
    name: str,
    account: str | None = None,
    audiences: Sequence[str] = (),
    attributes: Sequence[str] = (),
    kind: str = KINESIS,
    renamed_from: Sequence[str] = (),
    enabled: bool = True,
    description: str = "",
) -> DesiredFlow:
    return DesiredFlow(
        name,
        description,
        enabled,
        kind,
        account or f"{name}-account",
        target_params(kind),
        {a: DesiredAudience(a) for a in audiences},
        list(attributes),
        f"{name}.yaml:2:7",
        list(renamed_from),
    )


def desired(*flows: DesiredFlow) -> DesiredState:
    state = DesiredState()
    for flow in flows:
        state.flows[flow.name] = flow
        state.accounts.setdefault(
            flow.account,
            DesiredAccount(flow.account, flow.type, dict(PLACES[flow.type]), {}, ".", FINGERPRINT),
        )
    return state


def target_of(project: str = DEFAULT_PROJECT) -> PlanTarget:
    return PlanTarget(
        kind="emulator", url="http://emulator", org="org", sandbox="prod", project=project
    )


def plan(
    wanted: DesiredState,
    live: Live,
    project: str = DEFAULT_PROJECT,
    prune: bool = False,
    only: Iterable[str] = (),
    safety: Safety | None = None,
    client: str | None = None,
    clients: Sequence[str] = (),
) -> Plan:
    only = list(only)
    if only:
        wanted.flows = {k: v for k, v in wanted.flows.items() if k in only}
    managed = live.managed(project, client, clients)
    return make_plan(wanted, managed, target_of(project), prune, only, safety)


def actions(found: Plan) -> list[tuple[str, str, str]]:
    """(action, type, name) of every change, in the plan's order."""
    return [(c.action, c.type, c.name) for c in found.changes]


def change(found: Plan, kind: str, name: str) -> AnyChange:
    matching = [c for c in found.changes if c.type == kind and c.name == name]
    assert len(matching) == 1, actions(found)
    return matching[0]
