"""Converging one dataflow: its target connection, the flow, its activation and state.

Then the proof: the dataflow is read back until it equals what was asked (a write may land
a moment later), and a digest of it is recorded on its target connection, which is how a
later plan tells drift from a manifest change. A write whose reply was lost is settled by
that read-back instead of failing the dataflow outright.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from provisioner import destinations
from provisioner.apply.requests import applied_marker, flow_body, target_body
from provisioner.errors import ProvisionerError
from provisioner.plan.diff import diff_flow, digest_of
from provisioner.plan.model import FlowChange, Plan, TargetChange, patch_json
from provisioner.plan.specs import flow_from_spec
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import AmbiguousWriteError
from provisioner.state.desired import DesiredFlow
from provisioner.state.live import LiveFlow, ManagedState
from provisioner.state.marker import read_marker

Resource = dict[str, Any]
VERIFY_TRIES = 4
log = logging.getLogger("provisioner.apply")


class DataflowConverger:
    def __init__(
        self,
        client: PlatformClient,
        plan: Plan,
        managed: ManagedState,
        account_id: Callable[[str], str],
        source_id: Callable[[], str],
    ) -> None:
        self.client = client
        self.plan = plan
        self.managed = managed
        self.account_id = account_id
        self.source_id = source_id

    def converge(self, name: str) -> list[str]:
        """Target, flow, activation and state as the plan says; then read back and record."""
        flow_change = self.plan.flow_change(name)
        target_change = self.plan.target_change(name)
        desired = None
        if flow_change is not None and flow_change.spec is not None:
            desired = flow_from_spec(name, flow_change.spec, flow_change.source)
        done: list[str] = []
        target_id = self._converge_target(name, target_change, desired, done)
        if flow_change is not None and desired is not None:
            flow_id = self._converge_dataflow(flow_change, desired, target_id, done)
        else:
            flow_id = self._existing(name).flow["id"]
        self._verify_and_record(name, flow_id, target_id, desired, target_change)
        return done

    def _converge_target(
        self, name: str, change: TargetChange | None, desired: DesiredFlow | None, done: list[str]
    ) -> str:
        if change is None:
            existing = self.managed.flows.get(name)
            target = existing.target if existing else self.managed.idle_targets.get(name)
            if target is None:
                raise ProvisionerError(
                    f"the target connection of {name} is gone from the "
                    "platform since the plan; run plan again"
                )
            return str(target["id"])
        if change.action == "update":
            with _settled_by_read_back():
                self.client.patch(
                    "targetConnections",
                    change.id or "",
                    patch_json(change.patch),
                    change.etag or "",
                    f"update the target connection of {name}",
                )
            done.append("updated the target connection")
            return change.id or ""
        if change.spec is None:
            raise ProvisionerError(f"the plan records no target connection to make for {name}")
        spec_id = destinations.by_type(change.spec.type).spec_id
        account_id = self.account_id(change.spec.account)
        body = target_body(name, account_id, spec_id, change.spec.params)
        target_id = self._create(
            "targetConnections",
            body,
            f"create the target connection of {name}",
            self._find_target(name, spec_id),
        )
        done.append("created the target connection")
        return target_id

    def _find_target(self, name: str, spec_id: str) -> Callable[[], Resource | None]:
        def find() -> Resource | None:
            listed = self.client.list_all(
                "targetConnections",
                [f"connectionSpec.id=={spec_id}"],
                f"look for the target connection of {name}",
            )
            return next((r for r in listed if (read_marker(r) or {}).get("dataflow") == name), None)

        return find

    def _converge_dataflow(
        self, change: FlowChange, desired: DesiredFlow, target_id: str, done: list[str]
    ) -> str:
        if change.action == "update":
            flow_id = change.id or ""
            if change.patch:
                with _settled_by_read_back():
                    self.client.patch(
                        "flows",
                        flow_id,
                        patch_json(change.patch),
                        change.etag or "",
                        f"update dataflow {change.name}",
                    )
                done.append(f"patched ({len(change.patch)} operations)")
            switch = change.enable  # the plan knows the state it saw
        else:
            flow_id, enabled_now = self._create_flow(desired, target_id, done)
            switch = desired.enabled if enabled_now != desired.enabled else None
        if switch is not None:
            action = "enable" if switch else "disable"
            with _settled_by_read_back():
                self.client.flow_action(flow_id, action, f"{action} dataflow {desired.name}")
            done.append(f"{action}d")
        return flow_id

    def _existing(self, name: str) -> LiveFlow:
        live = self.managed.flows.get(name)
        if live is None:
            raise ProvisionerError(
                f"dataflow {name} is gone from the platform since the plan; run plan again"
            )
        return live

    def _create_flow(
        self, desired: DesiredFlow, target_id: str, done: list[str]
    ) -> tuple[str, bool]:
        """Create (or adopt) and activate the flow; its id, and whether it is enabled."""
        if not self.source_id():
            raise ProvisionerError("the profile source connection could not be made")
        body = flow_body(desired, self.source_id(), target_id)
        flow_id = self._create(
            "flows", body, f"create dataflow {desired.name}", self._find_flow(target_id)
        )
        done.append("created")
        live = self._read_flow(flow_id)
        activation = diff_flow(live, desired)  # all of it for a new flow; the rest if adopted
        if activation.patch:
            self.client.patch(
                "flows",
                flow_id,
                activation.patch,
                live["etag"],
                f"activate audiences and attributes on {desired.name}",
            )
            done.append(
                f"activated {len(desired.audiences)} audience(s), "
                f"{len(desired.attributes)} attribute(s)"
            )
        return flow_id, live.get("state", "enabled") == "enabled"

    def _find_flow(self, target_id: str) -> Callable[[], Resource | None]:
        def find() -> Resource | None:
            listed = self.client.list_all(
                "flows", [f"targetConnectionIds[]=={target_id}"], "look for the dataflow"
            )
            return listed[0] if listed else None

        return find

    def _read_flow(self, flow_id: str) -> Resource:
        flow = self.client.get("flows", flow_id, "read the dataflow back")
        if flow is None:
            raise VerificationError(f"dataflow {flow_id} is gone right after it was written")
        return flow

    def _verify_and_record(
        self,
        name: str,
        flow_id: str,
        target_id: str,
        desired: DesiredFlow | None,
        target_change: TargetChange | None,
    ) -> None:
        """Read back until live equals desired (a write may land a moment later), then
        record the digest that later plans compare against to see drift."""
        for attempt in range(VERIFY_TRIES):
            flow = self._read_flow(flow_id)
            found = self.client.get("targetConnections", target_id, "read the target back")
            if found is None:
                raise VerificationError(f"the target connection of {name} is gone")
            target: Resource = found
            problems = _mismatches(flow, target, desired, target_change)
            if not problems:
                break
            if attempt == VERIFY_TRIES - 1:
                raise VerificationError(
                    f"read back after apply, dataflow {name} differs from its manifest: "
                    f"{'; '.join(problems)}"
                )
            time.sleep(0.2 * 2**attempt)
        digest = digest_of(flow, target)
        if (read_marker(target) or {}).get("applied") != digest:
            ops = [
                {
                    "op": "replace",
                    "path": "/description",
                    "value": applied_marker(name, digest),
                }
            ]
            self.client.patch(
                "targetConnections",
                target_id,
                ops,
                target["etag"],
                f"record the applied state of {name}",
            )

    # deletes --------------------------------------------------------------------------

    def _create(
        self, kind: str, body: Resource, operation: str, find: Callable[[], Resource | None]
    ) -> str:
        return self.client.create(kind, body, operation, find).id


@contextmanager
def _settled_by_read_back() -> Iterator[None]:
    """A write whose reply was lost may have happened: the read-back after it decides,
    and fails the dataflow if it did not."""
    try:
        yield
    except AmbiguousWriteError as error:
        log.warning("%s; checking by reading it back", error)


def _mismatches(
    flow: Resource,
    target: Resource,
    desired: DesiredFlow | None,
    target_change: TargetChange | None,
) -> list[str]:
    problems = []
    wanted: Any
    if desired is not None:
        remaining = diff_flow(flow, desired)
        if not remaining.empty:
            problems.append(
                f"{len(remaining.patch)} patch operation(s) still needed"
                + (", and its state" if remaining.enabled else "")
            )
        wanted = desired.target_params
    else:
        wanted = (
            target_change.patch[0].as_json().get("value")
            if target_change and target_change.patch
            else target.get("params")
        )
    if (target.get("params") or {}) != wanted:
        problems.append("the target connection's params differ")
    return problems


class VerificationError(ProvisionerError):
    """Read back after apply, the platform does not hold what was asked for."""
