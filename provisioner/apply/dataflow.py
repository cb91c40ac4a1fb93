"""Converging one dataflow: its target connection, the flow, its activation and state.

Requests: an update of a dataflow whose target is unchanged costs two (PATCH the flow, GET
it back); nothing else is read, since the plan's read already holds the target.

Order keeps a dataflow that must be disabled from ever exporting: the platform creates a
dataflow enabled, so it is disabled before any audience is activated on it, and a live
dataflow that must be disabled is disabled before its patch (one that must be enabled
is enabled after it). A re-run after a failure at any point does the same.

Then the proof: the dataflow is read back until it equals what was asked (a write may
land a moment later). A write whose reply was lost is settled by that read-back instead
of failing the dataflow outright. A later plan tells drift from a manifest change by the
platform's record of who last wrote the flow and its target (`updatedClient`); only where
that record cannot tell (the field missing, the client unknown, a target another apply
made) is a digest of what was applied written on the target connection. No document shows
that write, so it is best effort (see `Undocumented`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from provisioner import destinations
from provisioner.apply.conflicts import patch_as_planned
from provisioner.apply.requests import applied_marker, flow_body, target_body
from provisioner.apply.settle import Undocumented, settle
from provisioner.errors import PlatformError, ProvisionerError
from provisioner.plan.content import content_digest
from provisioner.plan.diff import diff_flow, digest_of, written_last_by
from provisioner.plan.model import FlowChange, Plan, TargetChange, patch_json
from provisioner.plan.specs import flow_from_spec
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import AmbiguousWriteError, ApiCallError
from provisioner.platform.flow_action import is_enabled
from provisioner.platform.ids import PLATFORM_CLIENTS, UI_CLIENT
from provisioner.state.desired import FINGERPRINT_KEY_VARIABLE, DesiredFlow
from provisioner.state.managed import ManagedState, Scope, nfc
from provisioner.state.marker import env_of, marker, marker_version, project_of, read_marker
from provisioner.state.writers import writer_field, writer_mac

Resource = dict[str, Any]
VERIFY_TRIES = 4
ACTIVATION_TRIES = 3
log = logging.getLogger("provisioner.apply")


@dataclass
class _Target:
    """The target connection as this apply leaves it."""

    id: str
    etag: str | None
    params: dict[str, Any]
    description: str
    checked: bool  # its params are known to be as wanted (unchanged, or read back)
    ours: bool = False  # the platform records one of the tool's clients as its last writer


class DataflowConverger:
    def __init__(
        self,
        client: PlatformClient,
        plan: Plan,
        managed: ManagedState,
        account_id: Callable[[str], str],
        source_id: Callable[[], str],
        undocumented: Undocumented,
    ) -> None:
        self.client = client
        self.plan = plan
        self.managed = managed
        self.account_id = account_id
        self.source_id = source_id
        self.undocumented = undocumented
        self.project = plan.target.project
        self.env = plan.target.environment
        # The clients whose writes are the tool's, as the plan judges drift: this run's own,
        # and those that made the tool's marked objects (which also covers a platform that
        # records this run's writes under another name than AEP_CLIENT_ID).
        own = client.target.client_id
        self._tools = frozenset({own} if own else ()) | managed.clients
        self.writer_key = os.environ.get(FINGERPRINT_KEY_VARIABLE) or None

    def converge(self, name: str) -> list[str]:
        """Target, flow, activation and state as the plan says; then read back and record."""
        flow_change = self.plan.flow_change(name)
        target_change = self.plan.target_change(name)
        desired = None
        if flow_change is not None and flow_change.spec is not None:
            desired = flow_from_spec(name, flow_change.spec, flow_change.source)
        done: list[str] = []
        target = self._converge_target(name, target_change, done)
        if flow_change is not None and desired is not None:
            flow_id = self._converge_dataflow(flow_change, desired, target.id, done)
        else:
            flow_id = self._existing(name)["id"]
        flow = self._verify(name, flow_id, target, desired)
        if flow_change is not None and flow_change.spec is not None:
            self._record_writer(name, flow, flow_change.spec.account)
        self._record(name, flow, target)
        return done

    # the target connection ------------------------------------------------------------

    def _converge_target(self, name: str, change: TargetChange | None, done: list[str]) -> _Target:
        if change is None:
            live = self.managed.flows.get(name)
            found = live.target if live else self.managed.idle_targets.get(name)
            if found is None:
                raise ProvisionerError(
                    f"the target connection of {name} is gone from the platform since the "
                    "plan; run plan again"
                )
            return _known(found, self._tools)
        if change.action == "update":
            etag = None
            with _settled_by_read_back():
                etag = patch_as_planned(
                    self.client,
                    "targetConnections",
                    change.id or "",
                    patch_json(change.patch),
                    change.etag or "",
                    change.digest,
                    f"update the target connection of {name}",
                )
            done.append("updated the target connection")
            params = change.patch[0].as_json().get("value") if change.patch else {}
            live = self.managed.flows.get(name)
            old = live.target if live else self.managed.idle_targets.get(name, {})
            return _Target(
                change.id or "", etag, params or {}, old.get("description", ""), False, True
            )
        return self._create_target(name, change, done)

    def _create_target(self, name: str, change: TargetChange, done: list[str]) -> _Target:
        if change.spec is None:
            raise ProvisionerError(f"the plan records no target connection to make for {name}")
        spec_id = destinations.by_type(change.spec.type).spec_id
        body = target_body(
            name,
            self.account_id(change.spec.account),
            spec_id,
            change.spec.params,
            self.project,
            self.env,
        )
        find = self._find_targets(name, spec_id)
        created = self.client.create(
            "targetConnections",
            body,
            f"create the target connection of {name}",
            lambda: next(iter(find()), None),
        )
        kept = settle(self.client, "targetConnections", created.id, find, f"target of {name}")
        done.append("created the target connection")
        if kept is not None:  # another apply made one first: use it, ours is gone
            return _Target(kept["id"], kept.get("etag"), kept.get("params") or {}, "", False)
        return _Target(
            created.id, created.etag, change.spec.params, body["description"], False, True
        )

    def _find_targets(self, name: str, spec_id: str) -> Callable[[], list[Resource]]:
        def find() -> list[Resource]:
            listed = self.client.list_all(
                "targetConnections",
                [f"connectionSpec.id=={spec_id}"],
                f"look for the target connection of {name}",
            )
            # Only one made since the plan: what existed then is another dataflow's (a
            # renamed one keeps the marker of its first name) or was passed over by the plan.
            known = self.managed.all_targets
            return [r for r in listed if r["id"] not in known and self._made_for(r, name)]

        return find

    # the dataflow -----------------------------------------------------------------------

    def _converge_dataflow(
        self, change: FlowChange, desired: DesiredFlow, target_id: str, done: list[str]
    ) -> str:
        if change.action != "update":
            return self._create_flow(desired, target_id, done)
        flow_id = change.id or ""
        patch, etag, digest = patch_json(change.patch), change.etag or "", change.digest
        if change.enable is False:  # stop exporting before anything else changes
            self._switch(flow_id, False, desired.name, done)
            patch, etag, digest = self._replanned_patch(flow_id, desired, patch)
        if patch:
            with _settled_by_read_back():
                patch_as_planned(
                    self.client,
                    "flows",
                    flow_id,
                    patch,
                    etag,
                    digest,
                    f"update dataflow {change.name}",
                )
            done.append(f"patched ({len(patch)} operations)")
        if change.enable is True:
            self._switch(flow_id, True, desired.name, done)
        return flow_id

    def _replanned_patch(
        self, flow_id: str, desired: DesiredFlow, planned: list[Resource]
    ) -> tuple[list[Resource], str, str]:
        """After this apply's own state change (which moves the etag), the patch against a
        fresh read, with that read's etag and content digest; it must be the one the plan
        showed, or the dataflow changed meanwhile."""
        live = self._read_flow(flow_id)
        if is_enabled(live):
            raise ProvisionerError(
                f"dataflow {desired.name} could not be disabled, so its audiences were not "
                "changed (it must not export them); run apply again"
            )
        patch = diff_flow(live, desired).patch
        if patch != planned:
            raise ProvisionerError(
                f"dataflow {desired.name} changed on the platform since the plan (after "
                "disabling it, its patch differs from the planned one); run plan again"
            )
        return patch, str(live.get("etag") or ""), content_digest(live)

    def _create_flow(self, desired: DesiredFlow, target_id: str, done: list[str]) -> str:
        """Create (or adopt) the flow, disable it first if it must be, then activate."""
        if not self.source_id():
            raise ProvisionerError("the profile source connection could not be made")
        body = flow_body(desired, self.source_id(), target_id)
        find = self._find_flows(target_id)
        created = self.client.create(
            "flows", body, f"create dataflow {desired.name}", lambda: next(iter(find()), None)
        )
        kept = settle(self.client, "flows", created.id, find, f"dataflow {desired.name}")
        flow_id = kept["id"] if kept is not None else created.id
        done.append("created")
        if not desired.enabled:  # the platform creates it enabled, with nothing to export
            self._switch(flow_id, False, desired.name, done)
        self._activate(flow_id, desired, done)
        return flow_id

    def _activate(self, flow_id: str, desired: DesiredFlow, done: list[str]) -> None:
        """Audiences and attributes in one PATCH against a fresh read; another apply
        racing on the same flow makes the etag stale, so read again and retry."""
        for attempt in range(ACTIVATION_TRIES):
            live = self._read_flow(flow_id)
            activation = diff_flow(live, desired)
            if not activation.patch:
                return
            try:
                self.client.patch(
                    "flows",
                    flow_id,
                    activation.patch,
                    live["etag"],
                    f"activate audiences and attributes on {desired.name}",
                )
            except ApiCallError as error:
                if error.status != 412 or attempt == ACTIVATION_TRIES - 1:
                    raise
                continue
            done.append(
                f"activated {len(desired.audiences)} audience(s), "
                f"{len(desired.attributes)} attribute(s)"
            )
            return

    def _switch(self, flow_id: str, enabled: bool, name: str, done: list[str]) -> None:
        action = "enable" if enabled else "disable"
        with _settled_by_read_back():
            self.client.flow_action(flow_id, action, f"{action} dataflow {name}")
        done.append(f"{action}d")

    def _find_flows(self, target_id: str) -> Callable[[], list[Resource]]:
        def find() -> list[Resource]:
            return self.client.list_all(
                "flows", [f"targetConnectionIds[]=={target_id}"], "look for the dataflow"
            )

        return find

    def _existing(self, name: str) -> Resource:
        live = self.managed.flows.get(name)
        if live is None:
            raise ProvisionerError(
                f"dataflow {name} is gone from the platform since the plan; run plan again"
            )
        return live.flow

    def _read_flow(self, flow_id: str) -> Resource:
        flow = self.client.get("flows", flow_id, "read the dataflow back")
        if flow is None:
            raise VerificationError(f"dataflow {flow_id} is gone right after it was written")
        return flow

    # the proof ------------------------------------------------------------------------

    def _verify(
        self, name: str, flow_id: str, target: _Target, desired: DesiredFlow | None
    ) -> Resource:
        """Read back until live equals desired (a write may land a moment later)."""
        wanted = desired.target_params if desired is not None else target.params
        for attempt in range(VERIFY_TRIES):
            flow = self._read_flow(flow_id)
            problems = _flow_problems(flow, desired) + self._target_problems(target, wanted)
            if not problems:
                return flow
            if attempt == VERIFY_TRIES - 1:
                raise VerificationError(
                    f"read back after apply, dataflow {name} differs from its manifest: "
                    f"{'; '.join(problems)}"
                )
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def _target_problems(self, target: _Target, wanted: dict[str, Any]) -> list[str]:
        if target.checked and target.params == wanted:
            return []
        found = self.client.get("targetConnections", target.id, "read the target back")
        if found is None:
            raise VerificationError(f"the target connection {target.id} is gone")
        target.etag, target.params = found.get("etag"), found.get("params") or {}
        target.description, target.checked = found.get("description", ""), True
        return [] if target.params == wanted else ["the target connection's params differ"]

    def _record(self, name: str, flow: Resource, target: _Target) -> None:
        """The applied digest (and the marker's current key) on the target connection, when
        the platform's own record does not already tell a later plan that this tool made
        the dataflow as it is (see `drifted`): in the common case, no write at all."""
        digest = digest_of(flow, {"params": target.params})
        fields = read_marker({"description": target.description}) or {}
        # The name needs no record here: the account's ledger holds the names the tool gives.
        if fields.get("applied") == digest or (target.ours and written_last_by(self._tools, flow)):
            return
        if not target.etag or not self.undocumented.allowed("record"):
            return
        ops = [{"op": "replace", "path": "/description", "value": self._marker(name, digest)}]
        try:
            self.client.patch(
                "targetConnections", target.id, ops, target.etag, f"record the state of {name}"
            )
        except PlatformError as error:
            if isinstance(error, ApiCallError) and error.status == 412:
                log.info("the target of %s changed meanwhile; its state is not recorded", name)
                return
            self.undocumented.refused("record", error)

    def _record_writer(self, name: str, flow: Resource, account_key: str) -> None:
        """The name the platform recorded for this apply's own write of the flow (read back
        and verified just now), kept in its account's marker under the operator's key
        (`state/writers.py`) so that later plans know it. Only with
        PROVISIONER_FINGERPRINT_KEY, and only on a marker this release wrote (a `v2` marker
        rewritten would lose what it proves of the previous release's imports)."""
        writer = flow.get("updatedClient")
        if not isinstance(writer, str) or not writer or writer in self._tools:
            return
        if not self.writer_key or writer in PLATFORM_CLIENTS or writer == UI_CLIENT:
            return
        account_id = self.account_id(account_key)
        account = self.client.get("connections", account_id, f"read the account of {name}")
        fields = read_marker(account or {})
        if account is None or fields is None or marker_version(account) < 3:
            return
        fields[writer_field(writer)] = writer_mac(
            self.writer_key, self.project, self.env, account_id, writer
        )
        ops = [{"op": "add", "path": "/description", "value": marker(**fields)}]
        try:
            self.client.patch(
                "connections",
                account_id,
                ops,
                str(account.get("etag") or ""),
                f"record the client that wrote {name}",
            )
        except ApiCallError as error:
            if error.status != 412:
                raise
            return  # the account changed meanwhile: the digest tells instead
        self._tools |= {writer}

    def _marker(self, name: str, digest: str) -> str:
        return applied_marker(name, digest, self.project, self.env)

    def _made_for(self, target: Resource, name: str) -> bool:
        """A target connection the tool made for this dataflow, in this run's scope (a
        create whose reply was lost, or another apply's racing one)."""
        fields = read_marker(target) or {}
        scope = Scope(project_of(fields), env_of(fields))
        return nfc(fields.get("dataflow")) == name and Scope(self.project, self.env).holds(scope)


def _known(target: Resource, tools: frozenset[str]) -> _Target:
    return _Target(
        str(target["id"]),
        target.get("etag"),
        target.get("params") or {},
        str(target.get("description") or ""),
        True,
        written_last_by(tools, target) is True,
    )


@contextmanager
def _settled_by_read_back() -> Iterator[None]:
    """A write whose reply was lost may have happened: the read-back after it decides,
    and fails the dataflow if it did not."""
    try:
        yield
    except AmbiguousWriteError as error:
        log.warning("%s; checking by reading it back", error)


def _flow_problems(flow: Resource, desired: DesiredFlow | None) -> list[str]:
    if desired is None:
        return []
    remaining = diff_flow(flow, desired)
    if remaining.empty:
        return []
    return [
        f"{len(remaining.patch)} patch operation(s) still needed"
        + (", and its state" if remaining.enabled else "")
    ]


class VerificationError(ProvisionerError):
    """Read back after apply, the platform does not hold what was asked for."""
