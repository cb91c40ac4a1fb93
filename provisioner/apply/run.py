"""Carrying out a plan: in the stages the plan derives (`plan/order.py`), a read after.

The order is decided there alone: the profile source, the old halves of replaced
dataflows, accounts (concurrently), every dataflow (concurrently, at most `concurrency` at
once), then deletes: dataflows, accounts, the profile source. Dataflows are independent:
one failing does not stop the others. Results are reported in the plan's order, whatever
order they finish in.

Every create is made so that a re-run finds it: it carries the ownership marker, and an
ambiguous failure is followed by a lookup (the client adopts what it finds); a create
racing another apply's is settled (see `settle`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from provisioner.apply.conflicts import patch_as_planned
from provisioner.apply.dataflow import DataflowConverger
from provisioner.apply.requests import (
    account_body,
    account_update_ops,
    profile_base_body,
    profile_source_body,
)
from provisioner.apply.settle import Undocumented, settle
from provisioner.errors import ProvisionerError
from provisioner.plan.accounts import recorded_references
from provisioner.plan.content import content_digest
from provisioner.plan.model import AccountChange, AnyChange, Plan, SourceChange, unit_of
from provisioner.plan.order import StageKind, Step, apply_stages
from provisioner.plan.specs import account_from_spec
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import ApiCallError
from provisioner.platform.ids import PROFILE_SPEC_ID
from provisioner.state.desired import DesiredAccount, resolve_account_secrets
from provisioner.state.managed import ManagedState, Scope
from provisioner.state.marker import env_of, project_of, read_marker

Resource = dict[str, Any]
log = logging.getLogger("provisioner.apply")
UNITS_PER_REQUEST_SLOT = 8
_KINDS = {"flow": "flows", "target": "targetConnections", "account": "connections"}
_Change = TypeVar("_Change", SourceChange, AccountChange)


@dataclass
class Result:
    unit: str
    ok: bool
    message: str
    actions: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def applied(self) -> list[Result]:
        return [r for r in self.results if r.ok]


class Applier:
    def __init__(
        self,
        client: PlatformClient,
        plan: Plan,
        managed: ManagedState,
        progress: Callable[[Result], None] = lambda _: None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.managed = managed
        self.progress = progress
        self.refused = dict(refused or {})  # unit -> why it must not be touched
        self.project = plan.target.project
        self.env = plan.target.environment
        self.accounts: dict[str, str] = {k: str(a["id"]) for k, a in managed.accounts.items()}
        self.failed_accounts: dict[str, str] = {}
        self.source_id = str((managed.profile_source or {}).get("id", ""))
        self.undocumented = Undocumented()
        self._results: dict[str, Result] = {}
        self._lock = threading.Lock()
        self.converger = DataflowConverger(
            client, plan, managed, self._account_id, lambda: self.source_id, self.undocumented
        )

    # the order --------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        handlers = self._handlers()
        for stage in apply_stages(self.plan):
            units: list[tuple[str, Callable[[], list[str]]]] = [
                (step.unit, partial(handlers[stage.kind], step)) for step in stage.steps
            ]
            if stage.one_at_a_time:
                for unit in units:
                    self._unit(*unit)
            else:
                self._each(units)
        return self._report()

    def _handlers(self) -> dict[StageKind, Callable[[Step], list[str]]]:
        """What carries out one unit of each stage."""
        return {
            "make source": lambda step: self._source(_the(step, SourceChange)),
            "retire replaced": self._retire_replaced,
            "converge accounts": lambda step: self._account(_the(step, AccountChange)),
            "converge dataflows": lambda step: self.converger.converge(step.name),
            "delete dataflows": self._delete_flow,
            "delete accounts": lambda step: self._delete(_the(step, AccountChange)),
            "delete source": lambda step: self._delete_source(_the(step, SourceChange)),
        }

    def _each(self, units: list[tuple[str, Callable[[], list[str]]]]) -> None:
        """Run the units, several times `concurrency` at once: the client's limiter bounds
        the requests in flight, and a unit waiting out a Retry-After holds no request (in a
        storm of 429s most units are waiting, so the more there are, the sooner it is done)."""
        if len(units) == 1:
            self._unit(*units[0])
        elif units:
            slots = self.client.concurrency  # --concurrency 1: strictly one thing at a time
            workers = 1 if slots == 1 else min(len(units), UNITS_PER_REQUEST_SLOT * slots, 160)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda unit: self._unit(*unit), units))

    def _unit(self, unit: str, work: Callable[[], list[str]]) -> None:
        with self._lock:
            earlier = self._results.get(unit)
        if earlier is not None and not earlier.ok:
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
        with self._lock:
            existing = self._results.get(result.unit)
            if existing is not None and result.ok:
                existing.actions += result.actions
            else:
                self._results[result.unit] = result
        self.progress(result)

    def _report(self) -> ApplyReport:
        order = _unique(unit_of(c) for c in self.plan.changes)
        results = [self._results[u] for u in order if u in self._results]
        results += [r for u, r in self._results.items() if u not in order]
        # refused units the plan does not touch (only the saved plan has them): never run,
        # but reported, so the refusal fails the command
        results += [
            Result(u, False, why)
            for u, why in self.refused.items()
            if u not in order and u not in self._results
        ]
        return ApplyReport(results, self.undocumented.notes)

    # the profile source -------------------------------------------------------------

    def _source(self, change: SourceChange) -> list[str]:
        if self.source_id:  # made since the plan (another apply): one per sandbox is enough
            return []
        base = change.reuse_base or self._create_profile(
            "connections", profile_base_body(), "create the profile base connection"
        )
        self.source_id = self._create_profile(
            "sourceConnections", profile_source_body(base), "create the profile source connection"
        )
        return ["created the profile source connection"]

    def _create_profile(self, kind: str, body: Resource, operation: str) -> str:
        """One per sandbox: a racing apply's older one is kept, and ours deleted (before
        anything uses it)."""
        find = self._find_profiles(kind)
        created = self.client.create(kind, body, operation, lambda: next(iter(find()), None))
        kept = settle(self.client, kind, created.id, find, f"profile {kind}")
        return str(kept["id"]) if kept is not None else created.id

    def _find_profiles(self, kind: str) -> Callable[[], list[Resource]]:
        def find() -> list[Resource]:
            found = self.client.list_all(
                kind, [f"connectionSpec.id=={PROFILE_SPEC_ID}"], f"look for the profile {kind}"
            )
            return [r for r in found if "profile" in (read_marker(r) or {})]

        return find

    # accounts -------------------------------------------------------------------------

    def _account(self, change: AccountChange) -> list[str]:
        try:
            return self._converge_account(change)
        except ProvisionerError as error:
            with self._lock:
                self.failed_accounts[change.name] = str(error)
            raise

    def _converge_account(self, change: AccountChange) -> list[str]:
        if change.spec is None:
            raise ProvisionerError(f"the plan records no account to make for {change.name}")
        account = account_from_spec(change.name, change.spec)
        resolve_account_secrets(account, None)
        if change.action == "update":
            changed = {f.path for f in change.fields}
            self._patch_account(change.id or "", change.etag or "", change.digest, account, changed)
            return [f"updated {', '.join(sorted(changed)) or 'its marker'}"]
        done = []
        if change.action == "replace" and change.id:
            self.client.delete("connections", change.id, f"delete account {change.name}")
            done.append("deleted the old account")
        find = self._find_accounts(account)
        created = self.client.create(
            "connections",
            account_body(account, self.project, self.env),
            f"create account {account.key}",
            lambda: next(iter(find()), None),
        )
        kept = settle(self.client, "connections", created.id, find, f"account {account.key}")
        with self._lock:
            self.accounts[account.key] = kept["id"] if kept is not None else created.id
        found = kept
        if kept is None and created.adopted:
            found = next((r for r in find() if r["id"] == created.id), None)
        if found and not _records_these_credentials(found, account):
            # adopted from an earlier run or another apply, made with older secrets
            self._patch_account(
                found["id"], found["etag"], content_digest(found), account, {"credentials"}
            )
        return [*done, "created"]

    def _find_accounts(self, account: DesiredAccount) -> Callable[[], list[Resource]]:
        def find() -> list[Resource]:
            listed = self.client.list_all(
                "connections",
                [f"connectionSpec.id=={account.spec_id}"],
                f"look for account {account.key}",
            )
            # Only one made since the plan: an account that existed then under this key
            # is being renamed by this apply (its dataflow's rename), or was passed over.
            known = self.managed.account_records
            return [r for r in listed if r["id"] not in known and self._is_this_account(r, account)]

        return find

    def _is_this_account(self, resource: Resource, account: DesiredAccount) -> bool:
        fields = read_marker(resource) or {}
        scope = Scope(project_of(fields), env_of(fields))
        return fields.get("account") == account.key and Scope(self.project, self.env).holds(scope)

    def _patch_account(
        self,
        account_id: str,
        etag: str,
        digest: str | None,
        account: DesiredAccount,
        changed: set[str],
    ) -> None:
        patch_as_planned(
            self.client,
            "connections",
            account_id,
            account_update_ops(account, changed, self.project, self.env),
            etag,
            digest,
            f"update account {account.key}",
        )

    # dataflows ------------------------------------------------------------------------

    def _retire_replaced(self, step: Step) -> list[str]:
        """A replaced dataflow's old flow and target go first: its account may be replaced."""
        done = []
        for change in step.changes:
            self.client.delete(
                _KINDS[change.type], change.id or "", f"delete the old {change.type} of {step.name}"
            )
            done.append(f"deleted the old {change.type}")
        return done

    def _account_id(self, key: str) -> str:
        with self._lock:
            if key in self.failed_accounts:
                raise ProvisionerError(f"its account {key} failed: {self.failed_accounts[key]}")
            if key not in self.accounts:
                raise ProvisionerError(
                    f"account {key} is gone from the platform since the plan; run plan again"
                )
            return self.accounts[key]

    def _delete_flow(self, step: Step) -> list[str]:
        done = []
        for change in step.changes:
            done += self._delete(change)
        return done

    def _delete(self, change: AnyChange) -> list[str]:
        try:
            self.client.delete(
                _KINDS[change.type], change.id or "", f"delete {change.type} {change.name}"
            )
        except ApiCallError as error:
            # A duplicate is deleted by the apply that made it too, when applies race: gone
            # is what was wanted. Anything else gone since the plan stays an error.
            if not (change.duplicate and error.status == 404):
                raise
            return [f"the duplicate {change.type} was deleted already"]
        return [f"deleted the {change.type}" + (" (a duplicate)" if change.duplicate else "")]

    def _delete_source(self, change: SourceChange) -> list[str]:
        self.client.delete("sourceConnections", change.id or "", "delete the profile source")
        if change.base_id:
            self.client.delete("connections", change.base_id, "delete the profile base connection")
        return ["deleted the profile source and base connections"]


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _the(step: Step, kind: type[_Change]) -> _Change:
    """The one change of a unit that carries out a single change, as the stage expects it."""
    (change,) = step.changes
    if not isinstance(change, kind):
        raise TypeError(f"{step.unit}: expected a {kind.__name__}, not {type(change).__name__}")
    return change


def _records_these_credentials(resource: Resource, account: DesiredAccount) -> bool:
    """Whether an account found on the platform records the credentials this apply writes:
    their fingerprint, and the references they come from."""
    fields = read_marker(resource) or {}
    return fields.get("fingerprint") == account.fingerprint and (
        recorded_references(fields) == account.references
    )
