"""Carrying out a plan: creates in dependency order, one PATCH per dataflow, a read after.

Dataflows are independent: one failing does not stop the others. Every create is made so
that a re-run finds it: it carries the ownership marker, and an ambiguous failure is
followed by a lookup (the client adopts what it finds). After each dataflow the tool reads
it back, checks that live equals desired, and records a digest of it on its target
connection, which is how a later plan tells drift from a manifest change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from provisioner.apply.dataflow import DataflowConverger
from provisioner.apply.requests import (
    account_body,
    account_update_ops,
    profile_base_body,
    profile_source_body,
)
from provisioner.errors import ProvisionerError
from provisioner.plan.model import (
    AccountChange,
    AnyChange,
    Plan,
    SourceChange,
)
from provisioner.plan.specs import account_from_spec
from provisioner.platform.client import PlatformClient
from provisioner.platform.ids import PROFILE_SPEC_ID
from provisioner.state.desired import DesiredAccount, resolve_account_secrets
from provisioner.state.live import ManagedState
from provisioner.state.marker import read_marker

Resource = dict[str, Any]
VERIFY_TRIES = 4
log = logging.getLogger("provisioner.apply")


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
        self.converger = DataflowConverger(
            client, plan, managed, self._account_id, lambda: self.source_id
        )

    # the order --------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        sources = [c for c in self.plan.changes if isinstance(c, SourceChange)]
        accounts = [c for c in self.plan.changes if isinstance(c, AccountChange)]
        dataflow_parts = [c for c in self.plan.changes if c.type in ("target", "flow")]
        flows = sorted({c.name for c in dataflow_parts if c.action != "delete"})
        deleted = sorted({c.name for c in dataflow_parts if c.action == "delete"})
        for source in sources:
            if source.action != "delete":
                self._unit("profile source", partial(self._source, source))
        for name in flows:
            self._unit(f"dataflow {name}", partial(self._retire_replaced, name))
        for account in accounts:
            if account.action != "delete":
                self._account_unit(account)
        for name in flows:
            self._unit(f"dataflow {name}", partial(self.converger.converge, name))
        for name in deleted:
            self._unit(f"dataflow {name}", partial(self._delete_flow, name))
        for account in accounts:
            if account.action == "delete":
                self._unit(f"account {account.name}", partial(self._delete, account))
        for source in sources:
            if source.action == "delete":
                self._unit("profile source", partial(self._delete_source, source))
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

    # the profile source -------------------------------------------------------------

    def _source(self, change: SourceChange) -> list[str]:
        if self.source_id:  # made since the plan (another apply): one per sandbox is enough
            return []
        base = change.reuse_base or self._create(
            "connections",
            profile_base_body(),
            "create the profile base connection",
            self._find_profile("connections"),
        )
        self.source_id = self._create(
            "sourceConnections",
            profile_source_body(base),
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

    def _account_unit(self, change: AccountChange) -> None:
        unit = f"account {change.name}"
        before = len(self.report.failed)
        self._unit(unit, lambda: self._account(change))
        if len(self.report.failed) > before:
            self.failed_accounts[change.name] = self.report.failed[-1].message

    def _account(self, change: AccountChange) -> list[str]:
        if change.spec is None:
            raise ProvisionerError(f"the plan records no account to make for {change.name}")
        account = account_from_spec(change.name, change.spec)
        resolve_account_secrets(account, None)
        if change.action == "update":
            self._patch_account(change.id or "", change.etag or "", account)
            return ["updated credentials"]
        done = []
        if change.action == "replace" and change.id:
            self.client.delete("connections", change.id, f"delete account {change.name}")
            done.append("deleted the old account")
        found: list[Resource] = []
        new_id = self._create(
            "connections",
            account_body(account),
            f"create account {account.key}",
            self._find_account(account, found),
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
        self.client.patch(
            "connections",
            account_id,
            account_update_ops(account),
            etag,
            f"update the credentials of account {account.key}",
        )

    # dataflows ------------------------------------------------------------------------

    def _retire_replaced(self, name: str) -> list[str]:
        """A replaced dataflow's old flow and target go first: its account may be replaced."""
        done = []
        for kind, change in (
            ("flows", self.plan.flow_change(name)),
            ("targetConnections", self.plan.target_change(name)),
        ):
            if change is not None and change.action == "replace" and change.id:
                self.client.delete(kind, change.id, f"delete the old {change.type} of {name}")
                done.append(f"deleted the old {change.type}")
        return done

    def _account_id(self, key: str) -> str:
        if key in self.failed_accounts:
            raise ProvisionerError(f"its account {key} failed: {self.failed_accounts[key]}")
        if key not in self.accounts:
            raise ProvisionerError(
                f"account {key} is gone from the platform since the plan; run plan again"
            )
        return self.accounts[key]

    def _delete_flow(self, name: str) -> list[str]:
        done = []
        for change in (
            c
            for c in self.plan.changes
            if c.name == name and c.action == "delete" and c.type in ("flow", "target")
        ):
            done += self._delete(change)
        return done

    def _delete(self, change: AnyChange) -> list[str]:
        kind = {"flow": "flows", "target": "targetConnections", "account": "connections"}
        self.client.delete(
            kind[change.type], change.id or "", f"delete {change.type} {change.name}"
        )
        return [f"deleted the {change.type}"]

    def _delete_source(self, change: SourceChange) -> list[str]:
        self.client.delete("sourceConnections", change.id or "", "delete the profile source")
        base = change.base_id
        if base:
            self.client.delete("connections", base, "delete the profile base connection")
        return ["deleted the profile source and base connections"]

    def _create(
        self, kind: str, body: Resource, operation: str, find: Callable[[], Resource | None]
    ) -> str:
        return self.client.create(kind, body, operation, find).id
