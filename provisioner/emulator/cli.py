"""`provisioner emulator …`: `serve` (the emulator over HTTP, `serve.py`), `sandboxes`
(the sandboxes it has), `audiences` (the audiences its sandboxes know) and `advance` (its
clock)."""

from __future__ import annotations

import click

from provisioner.emulator.audiences import Audiences
from provisioner.emulator.cli_common import (
    DEFAULT_DB,
    db_option,
    load_seed,
    open_store,
    sandbox_names,
)
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from provisioner.emulator.runs import MAX_HOURS
from provisioner.emulator.sandboxes import Sandboxes
from provisioner.emulator.serve import SECRET_VARIABLE, serve

__all__ = ["DEFAULT_DB", "SECRET_VARIABLE", "emulator"]


@click.group()
def emulator() -> None:
    """The local Flow Service emulator (no AEP account needed)."""


emulator.add_command(serve)


# sandboxes -------------------------------------------------------------------------------


@emulator.group()
def sandboxes() -> None:
    """The sandboxes of the emulator's organisation.

    prod always exists, and so does every sandbox the emulator's data holds objects or
    audiences in. The embedded emulator also knows the sandboxes of provisioner.yaml's
    environments. A request in any other sandbox is refused, as the platform refuses it.
    """


@sandboxes.command("add")
@click.argument("names", nargs=-1, required=True, callback=lambda _c, _o, n: sandbox_names(n))
@db_option
def add_sandboxes(names: tuple[str, ...], db: str) -> None:
    """Create sandboxes NAMES in the emulator's data file (existing ones stay as they are)."""
    store = open_store(db)
    try:
        known = Sandboxes(store)
        for name in names:
            known.add(name)
    finally:
        store.close()
    for name in names:
        click.echo(f"sandbox {name}: exists")


@sandboxes.command("list")
@db_option
def list_sandboxes(db: str) -> None:
    """Show the sandboxes the emulator's data file has, one per line."""
    store = open_store(db)
    try:
        names = sorted(Sandboxes(store).names())
    finally:
        store.close()
    for name in names:
        click.echo(name)


# audiences -------------------------------------------------------------------------------

_sandbox_option = click.option("--sandbox", required=True, help="The sandbox name.")


@emulator.group()
def audiences() -> None:
    """The audiences each sandbox of the emulator knows (its Audiences API).

    A sandbox never seeded accepts any audience id (a well-formed UUID) as an active
    audience with an empty name, and lists none; a seeded sandbox knows only its own.
    """


@audiences.command("seed")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option(
    "--sandbox",
    default=None,
    help="Seed only this sandbox; FILE may then be a bare list of audiences.",
)
@click.option("--replace", is_flag=True, help="Forget the sandbox's audiences not in FILE.")
def seed_command(file: str, db: str, sandbox: str | None, replace: bool) -> None:
    """Seed audiences from FILE (YAML or JSON) into the emulator's data file.

    FILE maps sandbox names to lists of audiences, each {id, name, description?,
    lifecycleState?} (lifecycleState: active (the default), published, draft, inactive or
    archived). Seeding the same id again updates it.
    """
    seeds = load_seed(file, sandbox)
    store = open_store(db)
    try:
        counts = Audiences(store).seed_all(seeds, replace)
    finally:
        store.close()
    for name, count in counts.items():
        click.echo(f"sandbox {name}: {count} audience(s) seeded")


@audiences.command("list")
@db_option
@_sandbox_option
def list_command(db: str, sandbox: str) -> None:
    """Show the audiences seeded in a sandbox, one per line: id, lifecycleState, name."""
    store = open_store(db)
    try:
        known = Audiences(store)
        if not known.seeded(sandbox):
            click.echo(f"sandbox {sandbox} was never seeded: any audience id exists")
        for audience in known.stored(sandbox):
            click.echo(f"{audience['id']}  {audience['lifecycleState']:<9}  {audience['name']}")
    finally:
        store.close()


@audiences.command("forget")
@db_option
@_sandbox_option
def forget_command(db: str, sandbox: str) -> None:
    """Drop a sandbox's audiences: it accepts any audience id again."""
    store = open_store(db)
    try:
        Audiences(store).forget(sandbox)
    finally:
        store.close()
    click.echo(f"sandbox {sandbox}: audiences forgotten; any audience id exists again")


@audiences.command("disable")
@db_option
@_sandbox_option
def disable_command(db: str, sandbox: str) -> None:
    """Make a sandbox's Audiences API answer 403 (an organisation not enabled for it)."""
    _set_enabled(db, sandbox, False)
    click.echo(f"sandbox {sandbox}: the Audiences API answers 403")


@audiences.command("enable")
@db_option
@_sandbox_option
def enable_command(db: str, sandbox: str) -> None:
    """Undo `disable`."""
    _set_enabled(db, sandbox, True)
    click.echo(f"sandbox {sandbox}: the Audiences API answers again")


def _set_enabled(db: str, sandbox: str, enabled: bool) -> None:
    store = open_store(db)
    try:
        Audiences(store).set_enabled(sandbox, enabled)
    finally:
        store.close()


# the clock -------------------------------------------------------------------------------


@emulator.command()
@click.option("--hours", default=1, show_default=True, type=click.IntRange(1, MAX_HOURS))
@db_option
@click.option("--url", default=None, help="Advance the emulator served here instead.")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEFAULT_CLIENT_SECRET, show_default=True)
def advance(hours: int, db: str, url: str | None, client_id: str, client_secret: str) -> None:
    """Move the emulator's clock HOURS on: each hour, every enabled dataflow with an
    audience runs once (as streaming destinations run hourly), in every sandbox."""
    import httpx  # loaded to run, not for --help

    from provisioner.emulator.clock import advance_served, advance_store, report

    if url is None:
        store = open_store(db)
        try:
            answer = advance_store(store, hours)
        finally:
            store.close()
    else:
        try:
            answer = advance_served(url, hours, client_id, client_secret)
        except (httpx.HTTPError, ValueError) as error:
            raise click.ClickException(f"cannot advance the emulator at {url}: {error}") from None
    for line in report(answer):
        click.echo(line)
