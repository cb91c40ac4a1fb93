"""Saved plans: written by `plan --out`, held against a fresh plan by `apply --plan FILE`.

The promise is "what was reviewed is what runs". A saved plan is never carried out as it
is: `apply --plan` plans again from the checkout, the command line and the project file
(exactly as `plan` does) and carries out only what the fresh plan and the saved plan
agree on. So an edited plan file cannot delete, change or create anything the manifests
do not ask for, nor choose the target:

- refused whole: a file that is not a saved plan, one edited since (its checksum), one
  not signed with `PROVISIONER_PLAN_KEY` when that key is set, or one made for another
  target, project, environment, `--prune` or `--only` than this run's;
- refused per dataflow (or account): whatever differs between the two plans, with what
  differs (the platform changed since, or a secret now resolves to another value: both
  show as a different fresh plan), and a dataflow whose new account is refused.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from provisioner.errors import ProvisionerError
from provisioner.plan.model import (
    FlowChange,
    Plan,
    TargetChange,
    content_checksum,
    content_signature,
    unit_of,
)

PLAN_KEY_VARIABLE = "PROVISIONER_PLAN_KEY"
MAX_PLAN_BYTES = 64 * 1024 * 1024
# What may differ between two plans of the same thing: where the manifest line is.
_IGNORED = {"source"}


class StalePlanError(ProvisionerError):
    """The saved plan cannot be applied as it is."""


def load_plan(path: Path, key: bytes | None = None) -> Plan:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_PLAN_BYTES + 1)
        if len(raw) > MAX_PLAN_BYTES:
            raise StalePlanError(f"{path} is larger than any saved plan; make a new plan")
        plan = Plan.model_validate(json.loads(raw))
    except OSError as error:
        raise StalePlanError(f"cannot read the plan {path}: {error.strerror}") from None
    except (ValueError, ValidationError, RecursionError) as error:
        # RecursionError: JSON nested deeper than the parser goes, which no plan is
        first = str(error).splitlines()[0][:200]
        raise StalePlanError(
            f"{path} is not a plan saved by `provisioner plan --out`: {first}"
        ) from None
    if plan.checksum != content_checksum(plan):
        raise StalePlanError(
            f"{path} was changed after it was saved (its checksum does not match); make a new plan"
        )
    if key is not None:
        _check_signature(plan, path, key)
    return plan


def _check_signature(plan: Plan, path: Path, key: bytes) -> None:
    if plan.signature is None:
        raise StalePlanError(
            f"{path} is not signed, and {PLAN_KEY_VARIABLE} is set: only a plan made by a "
            "plan job holding that key is applied"
        )
    if not hmac.compare_digest(plan.signature, content_signature(plan, key)):
        raise StalePlanError(
            f"{path} is not signed with this {PLAN_KEY_VARIABLE}: it was made elsewhere or "
            "changed since; make a new plan"
        )


def check_same_run(saved: Plan, fresh: Plan) -> None:
    """The whole plan is refused when it was made for another run than this one."""
    differences = [
        f"{what}: the plan has {theirs!r}, this run {ours!r}"
        for what, theirs, ours in (
            ("target", _where(saved), _where(fresh)),
            ("project", saved.target.project, fresh.target.project),
            ("environment", saved.target.environment, fresh.target.environment),
            ("--prune", saved.prune, fresh.prune),
            ("--only", saved.only, fresh.only),
        )
        if theirs != ours
    ]
    if differences:
        raise StalePlanError(
            "the plan was made for another run ("
            + "; ".join(differences)
            + "); make a new plan with the same target and options"
        )


def _where(plan: Plan) -> str:
    t = plan.target
    return f"{t.url} (org {t.org}, sandbox {t.sandbox})"


def refusals(saved: Plan, fresh: Plan) -> dict[str, str]:
    """unit -> why it must not be applied: every unit whose changes differ between the
    saved plan and the fresh one, including units only the fresh plan has, and those only
    the saved plan has when they delete or replace (a create or update only the saved plan
    has was made since: nothing is left to do)."""
    theirs, ours = _by_unit(saved), _by_unit(fresh)
    refused = {}
    for unit in sorted(set(theirs) | set(ours)):
        if unit not in ours and not _destroys(theirs[unit]):
            continue  # made since (by another apply): nothing is left to do for it
        difference = _difference(theirs.get(unit, []), ours.get(unit, []))
        if difference:
            refused[unit] = f"refused: {difference}; make a new plan"
    return refused | _refused_with_their_account(fresh, refused)


def _destroys(changes: list[dict[str, Any]]) -> bool:
    """A delete or replace a fresh plan does not make is refused, never taken as done: it
    may name what this project does not own."""
    return any(c.get("action") in ("delete", "replace") for c in changes)


def _refused_with_their_account(fresh: Plan, refused: dict[str, str]) -> dict[str, str]:
    """A dataflow whose account this run was to make (or remake) and refuses is refused too:
    its account does not exist for it."""
    accounts = {
        c.name
        for c in fresh.changes
        if c.type == "account" and c.action in ("create", "replace") and unit_of(c) in refused
    }
    also = {}
    for change in fresh.changes:
        unit = unit_of(change)
        if not isinstance(change, (FlowChange, TargetChange)) or unit in refused or unit in also:
            continue
        if change.spec is not None and change.spec.account in accounts:
            also[unit] = f"refused: its account {change.spec.account} is refused; make a new plan"
    return also


def _by_unit(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    units: dict[str, list[dict[str, Any]]] = {}
    for change in plan.changes:
        units.setdefault(unit_of(change), []).append(
            change.model_dump(mode="json", exclude=_IGNORED)
        )
    return units


def _difference(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> str:
    if theirs == ours:
        return ""
    if not ours:
        return (
            "a fresh plan does not make these changes (the platform or the manifests "
            "changed since, or the plan was edited)"
        )
    if not theirs:
        return "a fresh plan makes changes the saved plan does not have"
    for mine, other in zip(ours, theirs, strict=False):
        what = f"{mine.get('type')} {mine.get('name')}"
        for key in sorted(set(mine) | set(other), key=lambda k: (k != "etag", k)):
            if mine.get(key) != other.get(key):
                return f"{what} differs from the saved plan in '{key}'" + _why(key, mine, other)
    return "a fresh plan makes a different number of changes"


def _why(key: str, mine: dict[str, Any], other: dict[str, Any]) -> str:
    if key == "etag":
        return (
            f" (it changed on the platform since the plan: etag {other.get('etag')}, "
            f"now {mine.get('etag')})"
        )
    if key == "spec" and mine.get("type") == "account":
        return _account_spec_why(mine.get("spec") or {}, other.get("spec") or {})
    return ""


def _account_spec_why(mine: dict[str, Any], other: dict[str, Any]) -> str:
    differing = sorted(k for k in set(mine) | set(other) if mine.get(k) != other.get(k))
    if differing == ["fingerprint"]:  # the same references, resolving to other values
        return " (a secret now resolves to another value than when the plan was made)"
    return " (in " + ", ".join(f"spec.{k}" for k in differing) + ")"
