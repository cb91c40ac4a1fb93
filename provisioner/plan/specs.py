"""A plan's record of what to create, to and from the desired state it was made of.

A saved plan carries no manifest: apply rebuilds the desired dataflow and account from these
records, secrets as references resolved again at apply.
"""

from __future__ import annotations

import os

from provisioner.fields.secrets import SecretRef
from provisioner.plan.model import AccountSpec, AudienceSpec, FlowSpec
from provisioner.state.desired import DesiredAccount, DesiredAudience, DesiredFlow


def flow_from_spec(name: str, spec: FlowSpec, source: str = "") -> DesiredFlow:
    """A dataflow as a plan recorded it (a saved plan carries no manifest)."""
    audiences = {a.id: DesiredAudience(a.id, a.name, a.description) for a in spec.audiences}
    return DesiredFlow(
        name,
        spec.description,
        spec.enabled,
        spec.type,
        spec.account,
        dict(spec.target_params),
        audiences,
        list(spec.attributes),
        source,
    )


def flow_spec(flow: DesiredFlow) -> FlowSpec:
    """What a plan records of a desired dataflow, for apply to make it from."""
    return FlowSpec(
        description=flow.description,
        enabled=flow.enabled,
        type=flow.type,
        account=flow.account,
        target_params=flow.target_params,
        audiences=[AudienceSpec(**vars(a)) for a in flow.audiences.values()],
        attributes=flow.attributes,
    )


def account_from_spec(key: str, spec: AccountSpec) -> DesiredAccount:
    """An account as a plan recorded it: secrets as references, to be resolved again."""
    credentials = {k: SecretRef.parse(ref) for k, ref in spec.credentials.items()}
    return DesiredAccount(
        key,
        spec.type,
        dict(spec.place),
        credentials,
        spec.base_dir,
        spec.fingerprint,
        ledger=dict(spec.ledger),
    )


def account_spec(account: DesiredAccount) -> AccountSpec:
    return AccountSpec(
        type=account.type,
        place=account.place,
        credentials=account.references,
        base_dir=relative_dir(account.base_dir),
        fingerprint=account.fingerprint,
        ledger=dict(account.ledger),
    )


def relative_dir(path: str) -> str:
    """`path` relative to the working directory, where apply (the same run) resolves it
    back: no plan carries the checkout's absolute path. (`plan --out` then writes it
    relative to the project.)"""
    if not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive than the working directory's (Windows)
        return path
