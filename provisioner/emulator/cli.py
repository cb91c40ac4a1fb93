"""`provisioner emulator serve`: the emulator over HTTP for tools, tests and benchmarks;
`provisioner emulator sandboxes …`: the sandboxes it has; `provisioner emulator audiences
…`: the audiences its sandboxes know."""

from __future__ import annotations

from pathlib import Path

import click
import httpx

from provisioner.emulator.app import EmulatorApp, EmulatorConfig
from provisioner.emulator.audiences import Audiences, AudienceSeed, SeedError, load_seed_file
from provisioner.emulator.clock import Ticker, advance_served, advance_store, report
from provisioner.emulator.faults import Faults
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.runs import MAX_HOURS
from provisioner.emulator.sandboxes import Sandboxes, check_name
from provisioner.emulator.server import bound_host, is_loopback, make_server, server_url
from provisioner.emulator.store import MEMORY, Store, StoreFileError
from provisioner.emulator.strict import ACTION_FORMS, ActionForm

DEFAULT_DB = Path(".provisioner") / "emulator.db"
SECRET_VARIABLE = "PROVISIONER_EMULATOR_CLIENT_SECRET"


@click.group()
def emulator() -> None:
    """The local Flow Service emulator (no AEP account needed)."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8085,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--db",
    default=str(DEFAULT_DB),
    show_default=True,
    help=f"SQLite file holding the emulator's data, or {MEMORY} for none.",
)
@click.option(
    "--sandbox",
    "sandboxes",
    multiple=True,
    metavar="NAME",
    callback=lambda _context, _option, names: _sandbox_names(names),
    help="A sandbox that exists besides prod and those its data holds (repeatable).",
)
@click.option(
    "--unknown-sandbox",
    type=click.Choice(["500", "404"]),
    default="500",
    show_default=True,
    help="Answer a request in a sandbox that does not exist with 500 (as the platform "
    "does) or 404 2100 (as Adobe's error table says).",
)
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True)
@click.option(
    "--client-secret",
    default=DEFAULT_CLIENT_SECRET,
    show_default=True,
    envvar=SECRET_VARIABLE,
    help=f"The client's secret (also {SECRET_VARIABLE}, which keeps it out of process "
    "lists); never printed. Serving beyond loopback needs one of your own.",
)
@click.option("--org-id", default=DEFAULT_ORG, show_default=True)
@click.option("--token-ttl", default=86399, show_default=True, help="Token lifetime, seconds.")
@click.option(
    "--patch-status",
    type=click.Choice(["200", "202"]),
    default="200",
    show_default=True,
    help="Answer PATCH with 200 {id, etag} or 202 and no body.",
)
@click.option(
    "--delete-status",
    type=click.Choice(["202", "204"]),
    default="202",
    show_default=True,
    help="Answer DELETE with 202 or 204.",
)
@click.option(
    "--missing-sandbox",
    type=click.Choice(["prod", "error"]),
    default="prod",
    show_default=True,
    help="Without x-sandbox-name: use prod, or answer 400.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse (400) every write Adobe's documents do not show, and require what they "
    "require (transformations on a dataflow, subOp in the Sources form of the flow action).",
)
@click.option(
    "--action-form",
    type=click.Choice(ACTION_FORMS),
    default="both",
    show_default=True,
    help="Which documented form of POST /flows/{id}/action to accept: destinations "
    "(op=enable|disable), sources (op=ENABLE|DISABLE with subOp), or both.",
)
@click.option("--latency-ms", default=0.0, show_default=True, help="Delay every request.")
@click.option("--rate-429", default=0.0, show_default=True, help="Share of requests answered 429.")
@click.option("--retry-after", default=1, show_default=True, help="Retry-After of a 429, seconds.")
@click.option("--rate-5xx", default=0.0, show_default=True, help="Share of requests answered 5xx.")
@click.option(
    "--status-5xx", default=503, show_default=True, type=click.Choice([500, 502, 503, 504])
)
@click.option(
    "--lose-create-rate",
    default=0.0,
    show_default=True,
    help="Share of creates committed whose response is then lost.",
)
@click.option("--seed", type=int, default=None, help="Seed for the fault rates.")
@click.option(
    "--audiences",
    "audiences_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Seed audiences from this YAML or JSON file (sandbox name -> list of audiences).",
)
@click.option(
    "--audiences-disabled",
    default="",
    metavar="NAMES",
    help="Comma-separated sandboxes whose Audiences API answers 403 (not enabled).",
)
@click.option(
    "--run-every",
    type=click.FloatRange(min=0.01),
    default=None,
    metavar="SECONDS",
    help="Advance the emulator's clock one hour (running its dataflows) every SECONDS.",
)
@click.option("--verbose", is_flag=True, help="Log every request.")
def serve(
    host: str,
    port: int,
    db: str,
    sandboxes: tuple[str, ...],
    unknown_sandbox: str,
    client_id: str,
    client_secret: str,
    org_id: str,
    token_ttl: int,
    patch_status: str,
    delete_status: str,
    missing_sandbox: str,
    strict: bool,
    action_form: ActionForm,
    latency_ms: float,
    rate_429: float,
    retry_after: int,
    rate_5xx: float,
    status_5xx: int,
    lose_create_rate: float,
    seed: int | None,
    audiences_file: str | None,
    audiences_disabled: str,
    run_every: float | None,
    verbose: bool,
) -> None:
    """Serve the Flow Service and IMS emulator over HTTP until interrupted.

    Point the tool at it with AEP_PLATFORM_URL and AEP_IMS_URL set to the printed URL,
    AEP_CLIENT_ID, AEP_CLIENT_SECRET and AEP_ORG_ID as printed. Sandboxes that exist: prod,
    each --sandbox, and those the data holds; any other is answered 500. Admin endpoints
    for tests live under /emulator/ (health, faults, rules, stats, edit, sandboxes,
    audiences, advance, clock, exports, run-faults); all but health need the client's
    credentials (a bearer token from this emulator, or Basic auth).
    """
    # Refused before anything is opened or bound: the default secret is public.
    if not is_loopback(host) and client_secret == DEFAULT_CLIENT_SECRET:
        raise click.ClickException(_well_known_beyond_loopback(host))
    config = EmulatorConfig(
        clients={client_id: (client_secret, org_id)},
        sandboxes=frozenset(sandboxes),
        unknown_sandbox_status=404 if unknown_sandbox == "404" else 500,
        token_ttl=token_ttl,
        patch_status=200 if patch_status == "200" else 202,
        delete_status=202 if delete_status == "202" else 204,
        missing_sandbox="error" if missing_sandbox == "error" else "prod",
        strict=strict,
        action_form=action_form,
    )
    faults = Faults(
        latency_ms=latency_ms,
        rate_429=rate_429,
        retry_after=retry_after,
        rate_5xx=rate_5xx,
        status_5xx=status_5xx,
        lose_create_rate=lose_create_rate,
        seed=seed,
    )
    app = EmulatorApp(_open_store(db), config, faults)
    if audiences_file is not None:
        app.audiences.seed_all(_load_seed(audiences_file, None))
    for sandbox in _names(audiences_disabled):
        app.audiences.set_enabled(sandbox, False)
    try:
        server = make_server(app, host, port, verbose=verbose)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port"
        ) from None
    url = server_url(server)
    if not is_loopback(bound_host(server)):
        if client_secret == DEFAULT_CLIENT_SECRET:  # a name that resolved beyond loopback
            server.server_close()
            app.store.close()
            raise click.ClickException(_well_known_beyond_loopback(bound_host(server)))
        _warn_reachable(bound_host(server), url)
    mode = "strict, " if strict else ""
    click.echo(f"Flow Service emulator serving on {url} ({mode}data: {db}); Ctrl-C to stop")
    click.echo(f"  AEP_PLATFORM_URL={url} AEP_IMS_URL={url} AEP_ORG_ID={org_id}")
    click.echo(f"  AEP_CLIENT_ID={client_id} AEP_CLIENT_SECRET={_shown_secret(client_secret)}")
    click.echo(
        f"  sandboxes: {', '.join(app.sandbox_names())} (AEP_SANDBOX picks one; prod by default)"
    )
    ticker = Ticker(app.runs, run_every) if run_every else None
    if ticker is not None:
        click.echo(f"  dataflows run: one emulated hour every {run_every:g}s")
        ticker.start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        if ticker is not None:
            ticker.stop()
        server.server_close()
        app.store.close()


def _names(comma_separated: str) -> list[str]:
    return [name.strip() for name in comma_separated.split(",") if name.strip()]


def _sandbox_names(names: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(check_name(name) for name in names)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _shown_secret(secret: str) -> str:
    """The default is printed (it is public: in --help and the docs), a chosen one never:
    the banner ends up in terminals' scrollback and CI logs."""
    return secret if secret == DEFAULT_CLIENT_SECRET else "(the --client-secret given)"


def _well_known_beyond_loopback(host: str) -> str:
    return (
        f"refusing to listen on {host} with the emulator's well-known credentials: anyone "
        "who can reach it could read and change its data. Bind to 127.0.0.1, or give a "
        f"--client-secret of your own (or {SECRET_VARIABLE})"
    )


def _warn_reachable(host: str, url: str) -> None:
    click.echo(
        f"Warning: listening on {host}: this emulator is test infrastructure, now reachable "
        "from the network and guarded only by the client secret you gave; bind to 127.0.0.1 "
        "unless that is what you want.",
        err=True,
    )
    if not url.startswith(("http://127.", "http://[::1]")):
        click.echo(
            f"Note: the tool accepts plain http only for loopback addresses, so it cannot use "
            f"{url}; on this machine serve on 127.0.0.1 (or 0.0.0.0) instead.",
            err=True,
        )


def _open_store(db: str) -> Store:
    try:
        return Store(db)
    except StoreFileError as error:
        raise click.ClickException(str(error)) from None


def _load_seed(path: str, sandbox: str | None) -> dict[str, list[AudienceSeed]]:
    try:
        return load_seed_file(path, sandbox)
    except SeedError as error:
        raise click.ClickException(str(error)) from None


# sandboxes -------------------------------------------------------------------------------

_db_option = click.option(
    "--db",
    default=str(DEFAULT_DB),
    show_default=True,
    help="The emulator's SQLite file (the embedded emulator's by default).",
)


@emulator.group()
def sandboxes() -> None:
    """The sandboxes of the emulator's organisation.

    prod always exists, and so does every sandbox the emulator's data holds objects or
    audiences in. The embedded emulator also knows the sandboxes of provisioner.yaml's
    environments. A request in any other sandbox is refused, as the platform refuses it.
    """


@sandboxes.command("add")
@click.argument("names", nargs=-1, required=True, callback=lambda _c, _o, n: _sandbox_names(n))
@_db_option
def add_sandboxes(names: tuple[str, ...], db: str) -> None:
    """Create sandboxes NAMES in the emulator's data file (existing ones stay as they are)."""
    store = _open_store(db)
    try:
        known = Sandboxes(store)
        for name in names:
            known.add(name)
    finally:
        store.close()
    for name in names:
        click.echo(f"sandbox {name}: exists")


@sandboxes.command("list")
@_db_option
def list_sandboxes(db: str) -> None:
    """Show the sandboxes the emulator's data file has, one per line."""
    store = _open_store(db)
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
@_db_option
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
    seeds = _load_seed(file, sandbox)
    store = _open_store(db)
    try:
        counts = Audiences(store).seed_all(seeds, replace)
    finally:
        store.close()
    for name, count in counts.items():
        click.echo(f"sandbox {name}: {count} audience(s) seeded")


@audiences.command("list")
@_db_option
@_sandbox_option
def list_command(db: str, sandbox: str) -> None:
    """Show the audiences seeded in a sandbox, one per line: id, lifecycleState, name."""
    store = _open_store(db)
    try:
        known = Audiences(store)
        if not known.seeded(sandbox):
            click.echo(f"sandbox {sandbox} was never seeded: any audience id exists")
        for audience in known.stored(sandbox):
            click.echo(f"{audience['id']}  {audience['lifecycleState']:<9}  {audience['name']}")
    finally:
        store.close()


@audiences.command("forget")
@_db_option
@_sandbox_option
def forget_command(db: str, sandbox: str) -> None:
    """Drop a sandbox's audiences: it accepts any audience id again."""
    store = _open_store(db)
    try:
        Audiences(store).forget(sandbox)
    finally:
        store.close()
    click.echo(f"sandbox {sandbox}: audiences forgotten; any audience id exists again")


@audiences.command("disable")
@_db_option
@_sandbox_option
def disable_command(db: str, sandbox: str) -> None:
    """Make a sandbox's Audiences API answer 403 (an organisation not enabled for it)."""
    _set_enabled(db, sandbox, False)
    click.echo(f"sandbox {sandbox}: the Audiences API answers 403")


@audiences.command("enable")
@_db_option
@_sandbox_option
def enable_command(db: str, sandbox: str) -> None:
    """Undo `disable`."""
    _set_enabled(db, sandbox, True)
    click.echo(f"sandbox {sandbox}: the Audiences API answers again")


def _set_enabled(db: str, sandbox: str, enabled: bool) -> None:
    store = _open_store(db)
    try:
        Audiences(store).set_enabled(sandbox, enabled)
    finally:
        store.close()


# the clock -------------------------------------------------------------------------------


@emulator.command()
@click.option("--hours", default=1, show_default=True, type=click.IntRange(1, MAX_HOURS))
@_db_option
@click.option("--url", default=None, help="Advance the emulator served here instead.")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEFAULT_CLIENT_SECRET, show_default=True)
def advance(hours: int, db: str, url: str | None, client_id: str, client_secret: str) -> None:
    """Move the emulator's clock HOURS on: each hour, every enabled dataflow with an
    audience runs once (as streaming destinations run hourly), in every sandbox."""
    if url is None:
        store = _open_store(db)
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
