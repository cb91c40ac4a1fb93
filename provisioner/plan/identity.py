"""Which live dataflow each manifest stands for: before any diff, before any write.

A manifest claims, in this order: the dataflow its marker keys by the manifest's `name`;
one keyed by a name in its `renamedFrom` (renamed in place, like Terraform's `moved`); a
dataflow of this project whose live name is the manifest's name and that no other
manifest claims (a rename whose marker could not be rewritten, or an import). Then:

- a dataflow of the "default" project (made before a project file named the project) is
  taken over: its account moves to this project, a change the plan shows;
- a same-named dataflow of another project is an error, never a second copy;
- a same-named dataflow the tool does not manage at all is an error that says how to
  import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provisioner.errors import ProvisionerError
from provisioner.state.desired import DesiredFlow, DesiredState
from provisioner.state.managed import LiveFlow, ManagedState
from provisioner.state.marker import DEFAULT_PROJECT


class ConflictError(ProvisionerError):
    """A manifest names a dataflow that exists but is not this project's to change."""


@dataclass
class Claims:
    renamed: dict[str, str]  # manifest name -> the key it was found under


def claim(desired: DesiredState, managed: ManagedState) -> Claims:
    """Re-key `managed.flows` by the manifests' names; raise on a name another owns."""
    claims = Claims(renamed={})
    _take_over(desired, managed)
    unclaimed = dict(managed.flows)
    claimed: dict[str, LiveFlow] = {}
    for name in sorted(desired.flows):
        if name in unclaimed:
            claimed[name] = unclaimed.pop(name)
    # Renames before live names: a `renamedFrom` is said on purpose, a live name may be chance.
    for pick in (lambda n: _renamed(desired.flows[n], unclaimed), _by_live_name_in(unclaimed)):
        for name in sorted(set(desired.flows) - set(claimed)):
            found = pick(name)
            if found is not None:
                claims.renamed[name] = found.key
                claimed[name] = unclaimed.pop(found.key)
    managed.flows = {**unclaimed, **claimed}
    _refuse_foreign_names(desired, managed)
    return claims


def _renamed(flow: DesiredFlow, unclaimed: dict[str, LiveFlow]) -> LiveFlow | None:
    return next((unclaimed[old] for old in flow.renamed_from if old in unclaimed), None)


def _by_live_name_in(unclaimed: dict[str, LiveFlow]) -> Callable[[str], LiveFlow | None]:
    # Indexed once (oldest first wins): a scan per manifest is quadratic on a fleet.
    by_name: dict[str, list[LiveFlow]] = {}
    for live in unclaimed.values():
        by_name.setdefault(str(live.flow.get("name", "")), []).append(live)

    def find(name: str) -> LiveFlow | None:
        return next((f for f in by_name.get(name, []) if f.key in unclaimed), None)

    return find


def _take_over(desired: DesiredState, managed: ManagedState) -> None:
    """Dataflows of the default project that this project's manifests name become this
    project's, with their accounts (marked so by the plan's account changes)."""
    if managed.project == DEFAULT_PROJECT or DEFAULT_PROJECT not in managed.others:
        return
    default = managed.others[DEFAULT_PROJECT]
    names = {n for f in desired.flows.values() for n in (f.name, *f.renamed_from)}
    for key in sorted(set(default.flows) & names):
        live = default.flows.pop(key)
        managed.flows.setdefault(key, live)
        account_id = live.target.get("baseConnectionId")
        for account_key, account in list(default.accounts.items()):
            if account["id"] == account_id:
                managed.accounts.setdefault(account_key, default.accounts.pop(account_key))
                managed.taken_over.add(account_key)


def _refuse_foreign_names(desired: DesiredState, managed: ManagedState) -> None:
    clashes = []
    for name, flow in sorted(desired.flows.items()):
        if name in managed.flows:
            continue
        owner = next((p for p, o in sorted(managed.others.items()) if name in o.flows), None)
        if owner is not None:
            clashes.append(
                f"dataflow '{name}' ({flow.source}) belongs to project '{owner}' on this "
                "sandbox; choose another name, or manage it from that project"
            )
        elif (found := managed.foreign_flows.get(name)) is not None:
            clashes.append(
                f"dataflow '{name}' ({flow.source}) already exists on the platform as "
                f"{found['id']}, but provisioner did not create it: bring it under "
                f"management with `provisioner import --flow-id {found['id']}`, or choose "
                "another name"
            )
    if clashes:
        raise ConflictError("\n".join(clashes))
