"""Saved plans: written by `plan --out`, held against a fresh plan by `apply --plan FILE`.

The promise is "what was reviewed is what runs". A saved plan is never carried out as it
is: `apply --plan` plans again from the checkout, the command line and the project file
(exactly as `plan` does) and carries out only what the fresh plan and the saved plan
agree on. So an edited plan file cannot delete, change or create anything the manifests
do not ask for, nor choose the target:

- refused whole: a file that is not a saved plan, one edited since (its checksum), one
  not signed with `PROVISIONER_PLAN_KEY` when that key is set, one made for another
  target, project, environment, `--prune` or `--only` than this run's, and one holding a
  change of a dataflow or account that this run's manifests do not declare where the plan
  recorded it (fewer paths given than were planned: the rest would be dropped unseen);
- refused per dataflow (or account): whatever differs between the two plans, with what
  differs (the platform changed since, or a secret now resolves to another value: both
  show as a different fresh plan), and a dataflow whose new account is refused.

Stale means that a fresh plan's changes differ. Each change records a digest of the live
content it was planned against (`provisioner.plan.content`), and that is compared, never
the etag: the platform moves etags on its own after every run, so a plan reviewed hours
ago still applies when only the platform's own writes happened since (the etag is kept,
for apply's If-Match). Manifests are named relative to the project (the directory of
`provisioner.yaml`, else the working directory), so a plan made in one checkout applies
from another at any path.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

from pydantic import ValidationError

from provisioner.errors import ProvisionerError
from provisioner.manifest import LoadedManifest
from provisioner.plan.model import (
    AccountChange,
    AnyChange,
    FlowChange,
    Plan,
    PlanInput,
    TargetChange,
    content_checksum,
    content_signature,
    unit_of,
)

PLAN_KEY_VARIABLE = "PROVISIONER_PLAN_KEY"
MAX_PLAN_BYTES = 64 * 1024 * 1024
# What may differ between two plans of the same thing: where the manifest line is, the
# etag (the platform moves it on its own; the digest says whether the content moved), and
# the drift and unattributed labels (read from the last writer the platform records, which
# its own writes after a run replace; they change nothing that is carried out).
_IGNORED = {"source", "etag", "drift", "unattributed"}
_SHOWN_MISSING = 5


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


def check_inputs(saved: Plan, inputs: Sequence[PlanInput]) -> None:
    """The whole plan is refused when it holds a change of a dataflow or account that this
    run's manifests (`inputs`) do not declare in the manifest the plan recorded for it:
    applying the rest would drop that reviewed change without a word."""
    declared = _declared(inputs)
    recorded = _declared(saved.inputs)
    missing = [
        _missing(kind, name, sorted(recorded.get((kind, name), ())))
        for kind, name in _reviewed(saved)
        if not recorded.get((kind, name), set()) & declared.get((kind, name), set())
    ]
    if missing:
        shown = missing[:_SHOWN_MISSING]
        more = len(missing) - len(shown)
        raise StalePlanError(
            "the plan holds changes from manifests this run does not read: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else "")
            + "; give the manifests the plan was made from, or make a new plan "
            "(nothing was changed)"
        )


def _reviewed(plan: Plan) -> list[tuple[str, str]]:
    """(kind, name) of what the plan makes or changes from a manifest: every dataflow and
    account it does not delete (a delete, and the profile source, come from no manifest)."""
    found = (
        ("account" if c.type == "account" else "dataflow", c.name)
        for c in plan.changes
        if c.action != "delete" and c.type != "source"
    )
    return list(dict.fromkeys(found))


def _declared(inputs: Iterable[PlanInput]) -> dict[tuple[str, str], set[str]]:
    """(kind, name) -> the manifests that declare it."""
    found: dict[tuple[str, str], set[str]] = {}
    for item in inputs:
        for kind, names in (("dataflow", item.dataflows), ("account", item.accounts)):
            for name in names:
                found.setdefault((kind, name), set()).add(item.manifest)
    return found


def _missing(kind: str, name: str, manifests: list[str]) -> str:
    if not manifests:
        return f"{kind} {name} (the plan records no manifest for it)"
    return f"{kind} {name} (from {', '.join(manifests)})"


# paths relative to the project ---------------------------------------------------------


def plan_inputs(manifests: Iterable[LoadedManifest], root: Path) -> list[PlanInput]:
    """The manifest files a plan is made from, relative to the project `root`, with the
    dataflows and accounts each declares, in the order they were read."""
    files: dict[str, tuple[list[str], list[str]]] = {}
    for loaded in manifests:
        dataflows, accounts = files.setdefault(project_path(str(loaded.file), root), ([], []))
        dataflows.append(loaded.manifest.name)
        if loaded.manifest.account_key not in accounts:
            accounts.append(loaded.manifest.account_key)
    return [
        PlanInput(manifest=path, dataflows=dataflows, accounts=accounts)
        for path, (dataflows, accounts) in files.items()
    ]


def portable(plan: Plan, root: Path) -> Plan:
    """The plan with every local path in it relative to the project `root` (the manifest
    locations, an account's directory for `${file:}`, the embedded emulator's data file),
    as a saved plan and the JSON and Markdown plans hold them and as a fresh plan is
    compared with a saved one: the checkout's own path is in none of them."""
    moved = plan.with_changes([_portable_change(c, root) for c in plan.changes])
    if moved.target.kind == "emulator":  # its url is the data file's path on this machine
        target = moved.target.model_copy(update={"url": project_path(moved.target.url, root)})
        moved = moved.model_copy(update={"target": target})
    return moved


def _portable_change(change: AnyChange, root: Path) -> AnyChange:
    update: dict[str, Any] = {"source": _portable_source(change.source, root)}
    if isinstance(change, AccountChange) and change.spec is not None:
        base_dir = project_path(change.spec.base_dir, root)
        update["spec"] = change.spec.model_copy(update={"base_dir": base_dir})
    return change.model_copy(update=update)


def _portable_source(source: str, root: Path) -> str:
    """FILE:LINE:COL (or FILE) with FILE relative to the project."""
    parts = source.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return f"{project_path(parts[0], root)}:{parts[1]}:{parts[2]}"
    return project_path(source, root)


def project_path(path: str, root: Path) -> str:
    """`path` (as given: relative to the working directory, or absolute) relative to the
    project `root`, with `/` whatever the system."""
    if not path:
        return path
    try:
        relative = os.path.relpath(os.path.abspath(path), root)
    except ValueError:  # another drive than the project's (Windows): no relative path
        return PurePath(path).as_posix()
    return PurePath(relative).as_posix()


def _where(plan: Plan) -> str:
    t = plan.target
    return f"{t.url} (org {t.org}, sandbox {t.sandbox})"


def refusals(saved: Plan, fresh: Plan) -> dict[str, str]:
    """unit -> why it must not be applied: every unit whose changes differ between the
    saved plan and the fresh one, including units only the fresh plan has, and those only
    the saved plan has when they delete or replace (a create or update only the saved plan
    has, its manifest given as `check_inputs` makes sure, was made since: nothing is left
    to do)."""
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
        # the digest first: when the live content moved, that is why the rest differs
        for key in sorted(set(mine) | set(other), key=lambda k: (k != "digest", k)):
            if mine.get(key) != other.get(key):
                return f"{what} differs from the saved plan in '{key}'" + _why(key, mine, other)
    return "a fresh plan makes a different number of changes"


def _why(key: str, mine: dict[str, Any], other: dict[str, Any]) -> str:
    if key == "digest":
        return " (what it was planned against changed on the platform since the plan)"
    if key == "spec" and mine.get("type") == "account":
        return _account_spec_why(mine.get("spec") or {}, other.get("spec") or {})
    return ""


def _account_spec_why(mine: dict[str, Any], other: dict[str, Any]) -> str:
    differing = sorted(k for k in set(mine) | set(other) if mine.get(k) != other.get(k))
    if differing == ["fingerprint"]:  # the same references, resolving to other values
        return " (a secret now resolves to another value than when the plan was made)"
    return " (in " + ", ".join(f"spec.{k}" for k in differing) + ")"
