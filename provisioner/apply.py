"""Carrying out a plan: creates in dependency order, one PATCH per dataflow, a read after.

Dataflows are independent: one failing does not stop the others. Every create is made so
that a re-run finds it: it carries the ownership marker, and an ambiguous failure is
followed by a lookup (the client adopts what it finds). After each dataflow the tool reads
it back, checks that live equals desired, and records a digest of it on its target
connection, which is how a later plan tells drift from a manifest change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from provisioner.desired import (
    AUTH_SPECS,
    SPEC_IDS,
    DesiredAccount,
    DesiredAudience,
    DesiredFlow,
    auth_params,
    resolve_account_secrets,
)
from provisioner.diff import diff_flow, digest_of
from provisioner.errors import ProvisionerError
from provisioner.live import LiveFlow, ManagedState
from provisioner.manifest.secrets import SecretRef
from provisioner.ownership import PROFILE_BASE_NAME, PROFILE_SOURCE_NAME, marker, read_marker
from provisioner.plan import Change, Plan
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import AmbiguousWriteError
from provisioner.platform.ids import DESTINATION_FLOW_SPEC_ID, PROFILE_SPEC_ID, SPEC_VERSION

Resource = dict[str, Any]
VERIFY_TRIES = 4
log = logging.getLogger("provisioner.apply")


class VerificationError(ProvisionerError):
    """Read back after apply, the platform does not hold what was asked for."""


@dataclass
class Result:
    unit: str
    ok: bool
    message: str
    actions: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]


def desired_flow(change: Change) -> DesiredFlow:
    spec = change.spec
    audiences = {
        a["id"]: DesiredAudience(a["id"], a.get("name"), a.get("description"))
        for a in spec["audiences"]
    }
    return DesiredFlow(
        change.name,
        spec["description"],
        spec["enabled"],
        spec["type"],
        spec["account"],
        dict(spec["target_params"]),
        audiences,
        list(spec["attributes"]),
        change.source,
    )


def desired_account(change: Change) -> DesiredAccount:
    spec = change.spec
    credentials = {k: SecretRef.parse(ref) for k, ref in spec["credentials"].items()}
    return DesiredAccount(
        change.name,
        spec["type"],
        dict(spec["place"]),
        credentials,
        spec["base_dir"],
        spec.get("fingerprint"),
    )


class Applier:
    def __init__(
        self,
        client: PlatformClient,
        plan: Plan,
        managed: ManagedState,
        progress: Callable[[str], None] = lambda _: None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.managed = managed
        self.progress = progress
        self.refused = dict(refused or {})  # unit -> why it must not be touched
        self.accounts: dict[str, str] = {k: str(a["id"]) for k, a in managed.accounts.items()}
        self.failed_accounts: dict[str, str] = {}
        self.source_id = (managed.profile_source or {}).get("id", "")
        self.report = ApplyReport()

    # the order --------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        by_type = {
            t: [c for c in self.plan.changes if c.type == t]
            for t in ("source", "account", "target", "flow")
        }
        flows = sorted(
            {c.name for c in by_type["target"] + by_type["flow"] if c.action != "delete"}
        )
        deleted = sorted(
            {c.name for c in by_type["flow"] + by_type["target"] if c.action == "delete"}
        )
        for change in by_type["source"]:
            if change.action != "delete":
                self._unit("profile source", partial(self._source, change))
        for name in flows:
            self._unit(f"dataflow {name}", partial(self._retire_replaced, name))
        for change in by_type["account"]:
            if change.action != "delete":
                self._account_unit(change)
        for name in flows:
            self._unit(f"dataflow {name}", partial(self._converge_flow, name))
        for name in deleted:
            self._unit(f"dataflow {name}", partial(self._delete_flow, name))
        for change in by_type["account"]:
            if change.action == "delete":
                self._unit(f"account {change.name}", partial(self._delete, change))
        for change in by_type["source"]:
            if change.action == "delete":
                self._unit("profile source", partial(self._delete_source, change))
        return self.report

    def _unit(self, unit: str, work: Callable[[], list[str]]) -> None:
        if any(r.unit == unit and not r.ok for r in self.report.results):
            return  # an earlier step of this unit failed; its failure is reported once
        if unit in self.refused:
            self._record(Result(unit, False, self.refused[unit]))
            return
        try:
            actions = work()
        except ProvisionerError as error:
            self._record(Result(unit, False, str(error)))
            return
        if actions:
            self._record(Result(unit, True, "done", actions))

    def _record(self, result: Result) -> None:
        existing = next((r for r in self.report.results if r.unit == result.unit), None)
        if existing is not None and result.ok:
            existing.actions += result.actions
            return
        if existing is not None:
            self.report.results.remove(existing)
        self.report.results.append(result)
        self.progress(f"{result.unit}: {'; '.join(result.actions) if result.ok else 'FAILED'}")

    def _changes(self, name: str, kind: str) -> Change | None:
        return next(
            (
                c
                for c in self.plan.changes
                if c.name == name and c.type == kind and c.action != "delete"
            ),
            None,
        )

    # the profile source -------------------------------------------------------------

    def _source(self, change: Change) -> list[str]:
        base = change.spec.get("reuse_base") or self._create(
            "connections",
            {
                "name": PROFILE_BASE_NAME,
                "description": marker(profile=""),
                "connectionSpec": _spec(PROFILE_SPEC_ID),
            },
            "create the profile base connection",
            self._find_profile("connections"),
        )
        body = {
            "name": PROFILE_SOURCE_NAME,
            "description": marker(profile=""),
            "baseConnectionId": base,
            "connectionSpec": _spec(PROFILE_SPEC_ID),
            "data": {"format": "json"},
            "params": {},
        }
        self.source_id = self._create(
            "sourceConnections",
            body,
            "create the profile source connection",
            self._find_profile("sourceConnections"),
        )
        return ["created the profile source connection"]

    def _find_profile(self, kind: str) -> Callable[[], Resource | None]:
        def find() -> Resource | None:
            found = self.client.list_all(
                kind, [f"connectionSpec.id=={PROFILE_SPEC_ID}"], f"look for the profile {kind}"
            )
            return next((r for r in found if "profile" in (read_marker(r) or {})), None)

        return find

    # accounts -------------------------------------------------------------------------

    def _account_unit(self, change: Change) -> None:
        unit = f"account {change.name}"
        before = len(self.report.failed)
        self._unit(unit, lambda: self._account(change))
        if len(self.report.failed) > before:
            self.failed_accounts[change.name] = self.report.failed[-1].message

    def _account(self, change: Change) -> list[str]:
        account = desired_account(change)
        resolve_account_secrets(account, None)
        if change.action == "update":
            self._patch_account(change.id or "", change.etag or "", account)
            return ["updated credentials"]
        done = []
        if change.action == "replace" and change.id:
            self.client.delete("connections", change.id, f"delete account {change.name}")
            done.append("deleted the old account")
        body = {
            "name": account.key,
            "description": _account_marker(account),
            "connectionSpec": _spec(account.spec_id),
            "auth": {"specName": AUTH_SPECS[account.type], "params": auth_params(account)},
        }
        found: list[Resource] = []
        new_id = self._create(
            "connections", body, f"create account {account.key}", self._find_account(account, found)
        )
        self.accounts[account.key] = new_id
        if found and (read_marker(found[0]) or {}).get("fingerprint") != account.fingerprint:
            self._patch_account(new_id, found[0]["etag"], account)  # adopted, with older secrets
        return [*done, "created"]

    def _find_account(
        self, account: DesiredAccount, found: list[Resource]
    ) -> Callable[[], Resource | None]:
        def find() -> Resource | None:
            listed = self.client.list_all(
                "connections",
                [f"connectionSpec.id=={account.spec_id}"],
                f"look for account {account.key}",
            )
            match = next(
                (r for r in listed if (read_marker(r) or {}).get("account") == account.key), None
            )
            if match is not None:
                found.append(match)
            return match

        return find

    def _patch_account(self, account_id: str, etag: str, account: DesiredAccount) -> None:
        ops: list[Resource] = [
            {"op": "replace", "path": "/auth/params", "value": auth_params(account)},
            {"op": "add", "path": "/description", "value": _account_marker(account)},
        ]
        self.client.patch(
            "connections", account_id, ops, etag, f"update the credentials of account {account.key}"
        )

    # dataflows ------------------------------------------------------------------------

    def _retire_replaced(self, name: str) -> list[str]:
        """A replaced dataflow's old flow and target go first: its account may be replaced."""
        done = []
        for kind, resource_type in (("flows", "flow"), ("targetConnections", "target")):
            change = self._changes(name, resource_type)
            if change is not None and change.action == "replace" and change.id:
                self.client.delete(kind, change.id, f"delete the old {resource_type} of {name}")
                done.append(f"deleted the old {resource_type}")
        return done

    def _converge_flow(self, name: str) -> list[str]:
        flow_change, target_change = self._changes(name, "flow"), self._changes(name, "target")
        desired = desired_flow(flow_change) if flow_change else None
        done: list[str] = []
        target_id = self._converge_target(name, target_change, desired, done)
        if flow_change is not None and desired is not None:
            flow_id = self._converge_dataflow(flow_change, desired, target_id, done)
        else:
            flow_id = self._existing(name).flow["id"]
        self._verify_and_record(name, flow_id, target_id, desired, target_change)
        return done

    def _converge_target(
        self, name: str, change: Change | None, desired: DesiredFlow | None, done: list[str]
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
                    change.patch,
                    change.etag or "",
                    f"update the target connection of {name}",
                )
            done.append("updated the target connection")
            return change.id or ""
        account_key = change.spec["account"]
        spec_id = SPEC_IDS[change.spec["type"]]
        body = {
            "name": name,
            "description": marker(dataflow=name),
            "baseConnectionId": self._account_id(account_key),
            "connectionSpec": _spec(spec_id),
            "data": {"format": "json"},
            "params": change.spec["params"],
        }
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
        self, change: Change, desired: DesiredFlow, target_id: str, done: list[str]
    ) -> str:
        if change.action == "update":
            flow_id = change.id or ""
            if change.patch:
                with _settled_by_read_back():
                    self.client.patch(
                        "flows",
                        flow_id,
                        change.patch,
                        change.etag or "",
                        f"update dataflow {change.name}",
                    )
                done.append(f"patched ({len(change.patch)} operations)")
        else:
            flow_id = self._create_flow(desired, target_id, done)
        live = self._read_flow(flow_id)
        if live.get("state", "enabled") != ("enabled" if desired.enabled else "disabled"):
            action = "enable" if desired.enabled else "disable"
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

    def _account_id(self, key: str) -> str:
        if key in self.failed_accounts:
            raise ProvisionerError(f"its account {key} failed: {self.failed_accounts[key]}")
        if key not in self.accounts:
            raise ProvisionerError(
                f"account {key} is gone from the platform since the plan; run plan again"
            )
        return self.accounts[key]

    def _create_flow(self, desired: DesiredFlow, target_id: str, done: list[str]) -> str:
        if not self.source_id:
            raise ProvisionerError("the profile source connection could not be made")
        body = {
            "name": desired.name,
            "description": desired.description,
            "flowSpec": _spec(DESTINATION_FLOW_SPEC_ID),
            "sourceConnectionIds": [self.source_id],
            "targetConnectionIds": [target_id],
            "transformations": [
                {
                    "name": "GeneralTransform",
                    "params": {
                        "profileSelectors": {"selectors": []},
                        "segmentSelectors": {"selectors": []},
                    },
                }
            ],
        }
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
        return flow_id

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
        target_change: Change | None,
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
                    "value": marker(dataflow=name, applied=digest),
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

    def _delete_flow(self, name: str) -> list[str]:
        done = []
        for change in (
            c
            for c in self.plan.changes
            if c.name == name and c.action == "delete" and c.type in ("flow", "target")
        ):
            done += self._delete(change)
        return done

    def _delete(self, change: Change) -> list[str]:
        kind = {"flow": "flows", "target": "targetConnections", "account": "connections"}
        self.client.delete(
            kind[change.type], change.id or "", f"delete {change.type} {change.name}"
        )
        return [f"deleted the {change.type}"]

    def _delete_source(self, change: Change) -> list[str]:
        self.client.delete("sourceConnections", change.id or "", "delete the profile source")
        base = change.spec.get("base_id")
        if base:
            self.client.delete("connections", base, "delete the profile base connection")
        return ["deleted the profile source and base connections"]

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
    flow: Resource, target: Resource, desired: DesiredFlow | None, target_change: Change | None
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
            target_change.patch[0]["value"]
            if target_change and target_change.patch
            else target.get("params")
        )
    if (target.get("params") or {}) != wanted:
        problems.append("the target connection's params differ")
    return problems


def _spec(spec_id: str) -> dict[str, str]:
    return {"id": spec_id, "version": SPEC_VERSION}


def _account_marker(account: DesiredAccount) -> str:
    return marker(account=account.key, fingerprint=account.fingerprint or "")
