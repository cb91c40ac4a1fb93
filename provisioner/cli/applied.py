"""Saying what an apply or a destroy did: each object with its id, then the count.

The ids of what was updated or deleted are the plan's; those of what was created are read
back from the platform once the apply is over (one read of the sandbox, only when something
was created), finding each object as `destroy` and `status` find them. A read that fails
leaves those ids out with a note: the apply itself is done either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import click

from provisioner.cli.planning import Scope, named, read_managed
from provisioner.errors import ProvisionerError
from provisioner.manifest import LoadedManifest
from provisioner.plan.identity import claim
from provisioner.plan.model import AnyChange, Plan, unit_of
from provisioner.platform.client import PlatformClient
from provisioner.render.applied import (
    ApplyResult,
    apply_result,
    object_lines,
    render_apply_json,
    summary_line,
)
from provisioner.render.safe import for_message, for_terminal
from provisioner.state.managed import ManagedState

if TYPE_CHECKING:
    from provisioner.apply.run import ApplyReport


def result_of(
    command: Literal["apply", "destroy"],
    the_plan: Plan,
    report: ApplyReport,
    refused: Mapping[str, str] | None = None,
    ids_from: tuple[PlatformClient, Scope, Sequence[LoadedManifest]] | None = None,
) -> ApplyResult:
    """The result of `report`; with `ids_from` (the client, scope and manifests of the run),
    the ids of what it created, read back."""
    failed = {r.unit: r.message for r in report.failed}
    notes = list(report.notes)
    created: dict[tuple[str, str], str] = {}
    if ids_from is not None:
        created, unread = created_ids(*ids_from, the_plan, failed)
        notes += unread
    return apply_result(command, the_plan, failed, set(refused or {}), created, notes)


def created_ids(
    client: PlatformClient,
    scope: Scope,
    manifests: Sequence[LoadedManifest],
    the_plan: Plan,
    failed: Mapping[str, str],
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(type, name) -> id of each object the plan created or replaced in a part that did
    not fail, read back; and a note when that read failed."""
    made = [
        c
        for c in the_plan.changes
        if c.action in ("create", "replace") and unit_of(c) not in failed
    ]
    if not made:
        return {}, []
    try:
        managed = read_managed(client, scope)
        claim(named(manifests), managed, check=False)
    except ProvisionerError as error:
        return {}, [f"the ids of the objects created could not be read back: {error}"]
    found = {(c.type, c.name): _live_id(managed, c) for c in made}
    return {key: found_id for key, found_id in found.items() if found_id}, []


def _live_id(managed: ManagedState, change: AnyChange) -> str | None:
    if change.type == "source":
        source = managed.profile_source
        return str(source["id"]) if source is not None else None
    if change.type == "account":
        account = managed.accounts.get(change.name)
        return str(account["id"]) if account is not None else None
    live = managed.flows.get(change.name)
    if live is None:
        return None
    return live.id if change.type == "flow" else str(live.target.get("id") or "") or None


def finish(result: ApplyResult, output_format: str = "text") -> None:
    """Each object's line, the errors and notes, then the count as the plan counts it (and
    the JSON, on standard output, for `--format json`: the rest goes to standard error).
    Raises when a part failed, after all of it is said."""
    to_err = output_format == "json"
    lines = object_lines(result)
    if lines:  # set apart from the plan above them
        click.echo("", err=to_err)
    for line in lines:
        click.echo(f"  {line}", err=to_err)
    for failure in result.failures:
        click.echo(f"error: {for_terminal(failure.part)}: {for_message(failure.message)}", err=True)
    for note in result.notes:
        click.echo(f"Note: {for_message(note)}", err=True)
    if to_err:
        click.echo(render_apply_json(result), nl=False)
    click.echo(summary_line(result), err=to_err)
    if not result.succeeded:
        raise ProvisionerError(
            f"{len(result.failures)} part(s) of the plan failed (above); what was applied "
            "stays, and running the command again picks up the rest"
        )
