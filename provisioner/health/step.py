"""Whether each manifest's dataflow is in step with it: the plan's verdict, per dataflow.

`status` needs no destination secrets, so it plans with the manifests' secrets unresolved.
Everything but one comparison is made as `plan` makes it: the dataflow, its target
connection and its account (name, region or namespace, the secret references it was
written from, its project). The one left out is the credentials' fingerprint, a digest of
the secret values themselves: without them every account would read as changed. A rotated
secret behind an unchanged reference therefore shows in `plan`, not in `status`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provisioner.plan.model import AccountChange, FieldChange, Plan

# The account field that compares the secret values' fingerprint (plan/accounts.py).
CREDENTIALS_FINGERPRINT = "credentials"
_NOUNS = {"flow": "dataflow", "target": "target connection", "account": "account"}


def pending_by_dataflow(plan: Plan, accounts: Mapping[str, str]) -> dict[str, list[str]]:
    """Dataflow name -> what the plan would change for it, in words (`update dataflow`,
    `create target connection`, `update account shared: params.region`); empty when it is
    in step. `accounts`: each manifest's name -> its account key."""
    by_account = {c.name: c for c in plan.changes if isinstance(c, AccountChange)}
    pending: dict[str, list[str]] = {name: [] for name in accounts}
    for change in plan.changes:
        if change.type in ("flow", "target") and change.name in pending:
            pending[change.name].append(f"{change.action} {_NOUNS[change.type]}")
    for name, key in accounts.items():
        account = by_account.get(key)
        words = _account_words(account) if account is not None else None
        if words:
            pending[name].append(words)
    return pending


def _account_words(change: AccountChange) -> str | None:
    """The account's change as `status` can judge it without the secrets; None when all
    it holds is the fingerprint comparison."""
    if change.action != "update":
        return f"{change.action} account {change.name}"
    fields = _judged(change.fields)
    if not fields:
        return None
    return f"update account {change.name}: {', '.join(fields)}"


def _judged(fields: Sequence[FieldChange]) -> list[str]:
    return [f.path for f in fields if f.path != CREDENTIALS_FINGERPRINT]
