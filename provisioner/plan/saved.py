"""Is a saved plan still true? Checks before `apply --plan FILE` writes anything.

A saved plan is refused whole when it was edited (checksum) or made for another target.
Per dataflow and account, it is refused when the platform changed since (an etag differs,
an object to create exists now, one to change is gone) or a secret now resolves to another
value; the rest of the plan still applies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from provisioner.errors import ProvisionerError
from provisioner.manifest.secrets import SecretResolutionError
from provisioner.plan.model import AccountChange, AnyChange, Plan, PlanTarget, content_checksum
from provisioner.plan.specs import account_from_spec
from provisioner.platform.redact import REDACTOR
from provisioner.state.desired import (
    FINGERPRINT_KEY_VARIABLE,
    fingerprint,
    resolve_account_secrets,
)
from provisioner.state.managed import ManagedState

Resource = dict[str, object]


class StalePlanError(ProvisionerError):
    """The saved plan cannot be applied as it is."""


def load_plan(path: Path) -> Plan:
    try:
        plan = Plan.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise StalePlanError(f"cannot read the plan {path}: {error.strerror}") from None
    except (ValueError, ValidationError) as error:
        raise StalePlanError(
            f"{path} is not a plan saved by `provisioner plan --out`: {str(error).splitlines()[0]}"
        ) from None
    if plan.checksum != content_checksum(plan):
        raise StalePlanError(
            f"{path} was changed after it was saved (its checksum does not match); make a new plan"
        )
    return plan


def check_target(plan: Plan, current: PlanTarget) -> None:
    if plan.target != current:
        raise StalePlanError(
            f"the plan was made for {plan.target.url} (org {plan.target.org}, sandbox "
            f"{plan.target.sandbox}), not for {current.url} (org {current.org}, sandbox "
            f"{current.sandbox}); make a new plan for this target"
        )


def unit_of(change: AnyChange) -> str:
    if change.type == "source":
        return "profile source"
    return f"account {change.name}" if change.type == "account" else f"dataflow {change.name}"


def refusals(
    plan: Plan, managed: ManagedState, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """unit -> why it must not be applied."""
    refused: dict[str, str] = {}
    for change in plan.changes:
        reason = _stale(change, managed) or _secret_moved(change, plan, environ)
        if reason:
            refused.setdefault(unit_of(change), f"refused: {reason}; make a new plan")
    return refused


def _current(change: AnyChange, managed: ManagedState) -> Resource | None:
    if change.type == "account":
        return managed.accounts.get(change.name)
    if change.type == "source":
        return managed.profile_source
    live = managed.flows.get(change.name)
    if change.type == "flow":
        return live.flow if live else None
    return live.target if live else managed.idle_targets.get(change.name)


def _stale(change: AnyChange, managed: ManagedState) -> str:
    current = _current(change, managed)
    what = f"{change.type} {change.name}"
    if change.action == "create":
        if current is not None and change.type != "source":
            return f"{what} exists on the platform now ({current['id']})"
        return ""
    if current is None:
        return f"{what} ({change.id}) is gone from the platform"
    if current.get("etag") != change.etag:
        return (
            f"{what} changed on the platform since the plan (etag {change.etag}, now "
            f"{current.get('etag')})"
        )
    return ""


def _secret_moved(change: AnyChange, plan: Plan, environ: Mapping[str, str] | None) -> str:
    if not isinstance(change, AccountChange) or change.spec is None:
        return ""
    account = account_from_spec(change.name, change.spec)
    try:
        resolve_account_secrets(account, environ)
    except SecretResolutionError as error:
        return f"a secret of account {change.name} cannot be resolved: {error}"
    for ref in account.credentials.values():
        REDACTOR.add(ref.reveal())
    key = (environ if environ is not None else os.environ).get(FINGERPRINT_KEY_VARIABLE)
    now = fingerprint(account, plan.target.org, plan.target.sandbox, key)
    if now != change.spec.fingerprint:
        return (
            f"a secret of account {change.name} now resolves to another value than when "
            "the plan was made"
        )
    return ""
