"""Which live dataflow each manifest stands for: before any diff, before any write.

One rule, used by plan, apply, destroy and the thresholds. Only dataflows this scope can
prove it owns are candidates (`state/managed.py`); each manifest claims at most one, by
the strongest evidence first, names compared after NFC:

1. the ledger: the account's record of the name the tool last gave the dataflow;
2. made under this name and still carrying it (target marker and live name agree);
3. `renamedFrom`: an earlier name, recorded or live (renamed in place, like Terraform's
   `moved`): said on purpose, where a live name may be chance;
4. its live name, for a dataflow that has no ledger entry (a rename the previous release
   made, or one an interrupted apply left half-recorded);
5. made under this name and renamed since by someone else (in the UI): renamed back.

An old name is therefore free once the tool renamed the dataflow away from it: the
ledger, not the target's first marker, says what the dataflow is now.

Then:
- a dataflow of the "default" project (made before a project file named the project) is
  taken over: its account moves to this project, a change the plan shows;
- a manifest without `account:` that claims a dataflow keeps the dataflow's account, whose
  key follows the manifest's name (a rename never moves a dataflow to a new account);
- a copy the tool made of a claimed dataflow (two applies at once) is a duplicate;
- a same-named dataflow of another project is an error, never a second copy; one the tool
  cannot prove it made is an error that says how to import it when no managed dataflow
  has the name, and a warning when one has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from provisioner.errors import ProvisionerError
from provisioner.state.managed import Duplicate, LiveFlow, ManagedState, nfc
from provisioner.state.marker import DEFAULT_PROJECT


class ConflictError(ProvisionerError):
    """A manifest names a dataflow that exists but is not this project's to change."""


class Claimant(Protocol):
    """What claiming needs of a manifest: its name, earlier names and place."""

    @property
    def name(self) -> str: ...

    @property
    def renamed_from(self) -> list[str]: ...

    @property
    def source(self) -> str: ...


@dataclass
class Claims:
    renamed: dict[str, str] = field(default_factory=dict)  # manifest name -> earlier name
    unclaimed: dict[str, LiveFlow] = field(default_factory=dict)  # by a key of their own


Rule = Callable[[str, LiveFlow], bool]
RENAMED_RULE = 2  # the rule that looks a dataflow up by the manifest's earlier names


def claim(
    manifests: Mapping[str, Claimant],
    managed: ManagedState,
    implicit_accounts: Mapping[str, str] | None = None,
    check: bool = True,
) -> Claims:
    """Set `managed.flows` to the claimed dataflows by manifest name, and the unclaimed
    ones by keys of their own; raise on a name another owns (unless not `check`: destroy
    deletes only what is claimed). `implicit_accounts`: manifest name -> its account key,
    for manifests that name no account."""
    _take_over(manifests, managed)
    earlier = {n: {nfc(o) for o in m.renamed_from} for n, m in manifests.items()}
    claimed = _assign(sorted(manifests), managed.candidates, _rules(earlier), earlier)
    claims = Claims(renamed=_key_claimed(claimed))
    claims.unclaimed = _set_aside_the_rest(claimed, managed, set(manifests))
    managed.flows = {**claims.unclaimed, **claimed}
    _follow_implicit_accounts(claimed, managed, implicit_accounts or {})
    _check_foreign(manifests, managed, check)
    return claims


def _rules(earlier: Mapping[str, set[str]]) -> list[Rule]:
    """The claim rules, strongest evidence first (the module's numbered list)."""

    def by_earlier_name(name: str, live: LiveFlow) -> bool:
        return live.recorded in earlier[name] or live.name in earlier[name]

    return [_by_ledger, _made_and_still_named, by_earlier_name, _by_live_name, _made_renamed_since]


def _by_ledger(name: str, live: LiveFlow) -> bool:
    return live.evidence == "ledger" and live.recorded == name


def _made_and_still_named(name: str, live: LiveFlow) -> bool:
    return live.evidence == "made" and live.recorded == name and live.name == name


def _by_live_name(name: str, live: LiveFlow) -> bool:
    return live.evidence != "ledger" and live.name == name


def _made_renamed_since(name: str, live: LiveFlow) -> bool:
    return live.evidence == "made" and live.recorded == name


def _key_claimed(claimed: Mapping[str, LiveFlow]) -> dict[str, str]:
    """Key each claimed dataflow by its manifest's name; the earlier names of those the
    plan renames, by manifest name."""
    renamed = {}
    for name, live in claimed.items():
        live.key = name
        if live.name != name:
            renamed[name] = live.name
    return renamed


def _set_aside_the_rest(
    claimed: Mapping[str, LiveFlow], managed: ManagedState, names: set[str]
) -> dict[str, LiveFlow]:
    """What no manifest claims: copies of a claimed dataflow are duplicates, unmarked ones
    foreign (unproven), and the marked rest is returned by keys of their own."""
    taken = {live.id for live in claimed.values()}
    rest = [f for f in managed.candidates if f.id not in taken]
    managed.duplicates += _duplicates(claimed, rest, managed.project)
    copies = {d.resource.get("id") for d in managed.duplicates if d.kind == "flow"}
    leftovers = [f for f in rest if f.id not in copies]
    managed.foreign += [f.flow for f in leftovers if not f.marked]  # unclaimed legacy: unproven
    return _keyed([f for f in leftovers if f.marked], names)


def _assign(
    names: Sequence[str],
    candidates: Sequence[LiveFlow],
    rules: Sequence[Rule],
    earlier: Mapping[str, set[str]],
) -> dict[str, LiveFlow]:
    """Each manifest gets at most one dataflow, by the first rule any candidate meets
    (oldest first within a rule); candidates are indexed by name so a fleet costs no scan
    per manifest."""
    by_name: dict[str, list[LiveFlow]] = {}
    for live in candidates:  # oldest first, as read
        for key in dict.fromkeys((live.recorded, live.name)):
            by_name.setdefault(key, []).append(live)
    claimed: dict[str, LiveFlow] = {}
    taken: set[str] = set()
    for index, rule in enumerate(rules):
        for name in names:
            if name in claimed:
                continue
            keys = earlier[name] if index == RENAMED_RULE else {name}
            pool = [f for key in sorted(keys) for f in by_name.get(key, [])]
            found = next((f for f in pool if f.id not in taken and rule(name, f)), None)
            if found is not None:
                claimed[name] = found
                taken.add(found.id)
    return claimed


def _duplicates(
    claimed: Mapping[str, LiveFlow], rest: Sequence[LiveFlow], project: str
) -> list[Duplicate]:
    """Copies the tool made of one dataflow, under its name and still named so (two applies
    at once, a create whose reply was lost twice): the claimed one stays, or the oldest
    when no manifest claims any (a prune then deletes it as one dataflow)."""
    kept: dict[str, LiveFlow] = dict(claimed)
    found = []
    for live in rest:  # oldest first
        if live.evidence != "made" or live.name != live.recorded:
            continue
        first = kept.setdefault(live.recorded, live)
        if first is live:
            continue
        found.append(Duplicate("flow", live.recorded, live.flow, first.id, project))
        if live.target["id"] != first.target["id"]:
            found.append(
                Duplicate("target", live.recorded, live.target, str(first.target["id"]), project)
            )
    return found


def _keyed(leftovers: Sequence[LiveFlow], names: set[str]) -> dict[str, LiveFlow]:
    """Unclaimed dataflows by their recorded name, made unique (and never a manifest's)."""
    keyed: dict[str, LiveFlow] = {}
    for live in leftovers:
        key = live.recorded
        if key in keyed or key in names:
            key = f"{live.recorded} ({live.id})"
        live.key = key
        keyed[key] = live
    return keyed


def _take_over(manifests: Mapping[str, Claimant], managed: ManagedState) -> None:
    """Dataflows of the default project that this project's manifests name become this
    project's, with their accounts (marked so by the plan's account changes)."""
    if managed.project == DEFAULT_PROJECT or DEFAULT_PROJECT not in managed.others:
        return
    default = managed.others[DEFAULT_PROJECT]
    names = {nfc(n) for m in manifests.values() for n in (m.name, *m.renamed_from)}
    moving = [f for f in default.candidates if f.recorded in names or f.name in names]
    for live in moving:
        default.candidates.remove(live)
        managed.candidates.append(live)
        for account_key, account in list(default.accounts.items()):
            if account["id"] == live.account_id:
                managed.accounts.setdefault(account_key, default.accounts.pop(account_key))
                managed.taken_over.add(account_key)


def _follow_implicit_accounts(
    claimed: Mapping[str, LiveFlow], managed: ManagedState, implicit: Mapping[str, str]
) -> None:
    """A manifest with no `account:` keeps its dataflow's account when renamed: the live
    account's key becomes the manifest's (an account update), never a new account."""
    wanted = set(implicit.values())
    by_id = {str(a["id"]): k for k, a in managed.accounts.items()}
    for name, key in sorted(implicit.items()):
        live = claimed.get(name)
        old = by_id.get(live.account_id) if live is not None else None
        if old is None or old == key or key in managed.accounts or old in wanted:
            continue
        managed.accounts[key] = managed.accounts.pop(old)
        managed.renamed_accounts[key] = old
        by_id[str(managed.accounts[key]["id"])] = key


def _check_foreign(manifests: Mapping[str, Claimant], managed: ManagedState, check: bool) -> None:
    """Another project's dataflow under a manifest's name is an error; so is a foreign one
    when no managed dataflow has the name; a foreign one beside a managed one is noted."""
    foreign: dict[str, list[str]] = {}
    for flow in managed.foreign:
        foreign.setdefault(nfc(flow.get("name")), []).append(str(flow["id"]))
    clashes = []
    for name, manifest in sorted(manifests.items()):
        if name in managed.flows:
            managed.foreign_sharing += [(name, i) for i in foreign.get(name, [])]
            continue
        owner = next(
            (p for p, o in sorted(managed.others.items()) if _holds(o.candidates, name)), None
        )
        if owner is not None:
            clashes.append(
                f"dataflow '{name}' ({manifest.source}) belongs to project '{owner}' on this "
                "sandbox; choose another name, or manage it from that project"
            )
        elif name in foreign:
            found = foreign[name][0]
            clashes.append(
                f"dataflow '{name}' ({manifest.source}) already exists on the platform as "
                f"{found}, but provisioner did not create it: bring it under management "
                f"with `provisioner import --flow-id {found}`, or choose another name"
            )
    for key in sorted(set(managed.flows) - set(manifests)):
        managed.foreign_sharing += [(key, i) for i in foreign.get(key, [])]
    if clashes and check:
        raise ConflictError("\n".join(clashes))


def _holds(candidates: Sequence[LiveFlow], name: str) -> bool:
    return any(f.name == name or f.recorded == name for f in candidates)
