"""`provisioner emulator serve`: the emulator over HTTP for tools, tests and benchmarks.

Its `--help` lists the options in three sections: what every user needs, the variants where
Adobe's documents disagree, and the tools for testing a pipeline (faults, latency, a
quota, delivery to Kinesis), which are off unless given. The emulator itself is imported only to
serve, so `--help` answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provisioner.emulator.cli_common import DEFAULT_DB, load_seed, open_store, sandbox_names
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.store import MEMORY
from provisioner.emulator.strict import ACTION_FORMS, ActionForm

if TYPE_CHECKING:
    from provisioner.emulator.app import EmulatorApp
    from provisioner.emulator.clock import Ticker
    from provisioner.emulator.delivery import KinesisDelivery
    from provisioner.emulator.server import ThreadingWSGIServer

SECRET_VARIABLE = "PROVISIONER_EMULATOR_CLIENT_SECRET"
EVERYONE = "Options"
VARIANTS = "Where Adobe's documents disagree"
RESILIENCE = "Options for testing a pipeline's resilience"


class SectionedOption(click.Option):
    """An option listed under a heading of its own in `--help`."""

    def __init__(self, *declarations: Any, section: str = EVERYONE, **attributes: Any) -> None:
        super().__init__(*declarations, **attributes)
        self.section = section


class SectionedCommand(click.Command):
    """A command whose `--help` lists its options by section, "Options" first."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {EVERYONE: []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "section", EVERYONE), []).append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def _variant(*declarations: str, **attributes: Any) -> Callable[[Decorated], Decorated]:
    return click.option(*declarations, cls=SectionedOption, section=VARIANTS, **attributes)


def _testing(*declarations: str, **attributes: Any) -> Callable[[Decorated], Decorated]:
    return click.option(*declarations, cls=SectionedOption, section=RESILIENCE, **attributes)


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    db: str
    sandboxes: tuple[str, ...]
    client_id: str
    client_secret: str
    org_id: str
    token_ttl: int
    audiences_file: str | None
    audiences_disabled: str
    run_every: float | None
    verbose: bool
    unknown_sandbox: str
    patch_status: str
    delete_status: str
    missing_sandbox: str
    strict: bool
    action_form: ActionForm
    latency_ms: float
    rate_429: float
    retry_after: int
    rate_5xx: float
    status_5xx: int
    lose_create_rate: float
    seed: int | None
    quota_rps: float | None
    quota_burst: int | None
    deliver: bool


@click.command(cls=SectionedCommand)
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
    callback=lambda _context, _option, names: sandbox_names(names),
    help="A sandbox that exists besides prod and those its data holds (repeatable).",
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
@_variant(
    "--unknown-sandbox",
    type=click.Choice(["500", "404"]),
    default="500",
    show_default=True,
    help="Answer a request in a sandbox that does not exist with 500 (as the platform "
    "does) or 404 2100 (as Adobe's error table says).",
)
@_variant(
    "--patch-status",
    type=click.Choice(["200", "202"]),
    default="200",
    show_default=True,
    help="Answer PATCH with 200 {id, etag} or 202 and no body.",
)
@_variant(
    "--delete-status",
    type=click.Choice(["202", "204"]),
    default="202",
    show_default=True,
    help="Answer DELETE with 202 or 204.",
)
@_variant(
    "--missing-sandbox",
    type=click.Choice(["prod", "error"]),
    default="prod",
    show_default=True,
    help="Without x-sandbox-name: use prod, or answer 400.",
)
@_variant(
    "--strict",
    is_flag=True,
    help="Refuse (400) every write Adobe's documents do not show, and require what they "
    "require (transformations on a dataflow, subOp in the Sources form of the flow action).",
)
@_variant(
    "--action-form",
    type=click.Choice(ACTION_FORMS),
    default="both",
    show_default=True,
    help="Which documented form of POST /flows/{id}/action to accept: destinations "
    "(op=enable|disable), sources (op=ENABLE|DISABLE with subOp), or both.",
)
@_testing("--latency-ms", default=0.0, show_default=True, help="Delay every request.")
@_testing("--rate-429", default=0.0, show_default=True, help="Share of requests answered 429.")
@_testing("--retry-after", default=1, show_default=True, help="Retry-After of a 429, seconds.")
@_testing("--rate-5xx", default=0.0, show_default=True, help="Share of requests answered 5xx.")
@_testing("--status-5xx", default=503, show_default=True, type=click.Choice([500, 502, 503, 504]))
@_testing(
    "--lose-create-rate",
    default=0.0,
    show_default=True,
    help="Share of creates committed whose response is then lost.",
)
@_testing("--seed", type=int, default=None, help="Seed for the fault rates.")
@_testing(
    "--quota-rps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="N",
    help="Meter each client (its token's client id, else its x-api-key) at N requests a "
    "second: past its quota a request is answered 429 with Retry-After.",
)
@_testing(
    "--quota-burst",
    type=click.IntRange(min=1),
    default=None,
    metavar="B",
    help="Requests a client may send at once under --quota-rps (default: one second's worth).",
)
@_testing(
    "--deliver",
    is_flag=True,
    help="Write each run's exported records to its Kinesis stream, at the endpoint the AWS "
    "settings choose (AWS_ENDPOINT_URL_KINESIS); a failed write fails the run. Secret keys "
    "are held in memory only: accounts created or updated since the emulator started. "
    "Needs provisioner[check].",
)
def serve(**given: Any) -> None:
    """Serve the Flow Service and IMS emulator over HTTP until interrupted.

    Point the tool at it with AEP_PLATFORM_URL and AEP_IMS_URL set to the printed URL,
    AEP_CLIENT_ID, AEP_CLIENT_SECRET and AEP_ORG_ID as printed. Sandboxes that exist: prod,
    each --sandbox, and those the data holds; any other is answered 500. Admin endpoints
    for tests live under /emulator/ (health, faults, rules, stats, quota, edit, sandboxes,
    audiences, advance, clock, exports, run-faults); all but health need the client's
    credentials (a bearer token from this emulator, or Basic auth).
    """
    options = ServeOptions(**given)
    # Refused before anything is opened or bound: the default secret is public.
    if not _loopback(options.host) and options.client_secret == DEFAULT_CLIENT_SECRET:
        raise click.ClickException(_well_known_beyond_loopback(options.host))
    if options.quota_burst is not None and options.quota_rps is None:
        raise click.UsageError("--quota-burst needs --quota-rps")
    delivery = _delivery() if options.deliver else None
    app = _emulator(options)
    if delivery is not None:
        app.runs.deliver = delivery(app.store, click.echo)
    server = _bind(app, options)
    _banner(app, server, options)
    _serve_until_interrupted(app, server, options.run_every)


def _delivery() -> type[KinesisDelivery]:
    """What delivers runs to their streams; without the `check` extra, refused before
    anything is opened or bound, with the install hint `check` gives."""
    from provisioner.emulator.delivery import MissingExtra, kinesis_delivery

    try:
        return kinesis_delivery()
    except MissingExtra as error:
        raise click.ClickException(f"--deliver: {error}") from None


def _kinesis_endpoint() -> str:
    """Where boto3 sends Kinesis requests, as its settings say (never a secret)."""
    import os

    for variable in ("AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"):
        if os.environ.get(variable):
            return f"{os.environ[variable]} ({variable})"
    return "AWS's endpoint of each stream's region"


def _loopback(host: str) -> bool:
    from provisioner.emulator.server import is_loopback

    return is_loopback(host)


def _emulator(options: ServeOptions) -> EmulatorApp:
    from provisioner.emulator.app import EmulatorApp, EmulatorConfig
    from provisioner.emulator.faults import Faults

    config = EmulatorConfig(
        clients={options.client_id: (options.client_secret, options.org_id)},
        sandboxes=frozenset(options.sandboxes),
        unknown_sandbox_status=404 if options.unknown_sandbox == "404" else 500,
        token_ttl=options.token_ttl,
        patch_status=200 if options.patch_status == "200" else 202,
        delete_status=202 if options.delete_status == "202" else 204,
        missing_sandbox="error" if options.missing_sandbox == "error" else "prod",
        strict=options.strict,
        action_form=options.action_form,
        quota_rps=options.quota_rps,
        quota_burst=options.quota_burst,
    )
    faults = Faults(
        latency_ms=options.latency_ms,
        rate_429=options.rate_429,
        retry_after=options.retry_after,
        rate_5xx=options.rate_5xx,
        status_5xx=options.status_5xx,
        lose_create_rate=options.lose_create_rate,
        seed=options.seed,
    )
    app = EmulatorApp(open_store(options.db), config, faults)
    if options.audiences_file is not None:
        app.audiences.seed_all(load_seed(options.audiences_file, None))
    for sandbox in _names(options.audiences_disabled):
        app.audiences.set_enabled(sandbox, False)
    return app


def _bind(app: EmulatorApp, options: ServeOptions) -> ThreadingWSGIServer:
    from provisioner.emulator.server import bound_host, is_loopback, make_server, server_url

    try:
        server = make_server(app, options.host, options.port, verbose=options.verbose)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {options.host}:{options.port}: {error.strerror}; "
            "choose another --port"
        ) from None
    host = bound_host(server)
    if not is_loopback(host):
        if options.client_secret == DEFAULT_CLIENT_SECRET:  # a name resolved beyond loopback
            server.server_close()
            app.store.close()
            raise click.ClickException(_well_known_beyond_loopback(host))
        _warn_reachable(host, server_url(server))
    return server


def _banner(app: EmulatorApp, server: ThreadingWSGIServer, options: ServeOptions) -> None:
    from provisioner.emulator.server import server_url

    url = server_url(server)
    mode = "strict, " if options.strict else ""
    click.echo(f"Flow Service emulator serving on {url} ({mode}data: {options.db}); Ctrl-C to stop")
    click.echo(f"  AEP_PLATFORM_URL={url} AEP_IMS_URL={url} AEP_ORG_ID={options.org_id}")
    click.echo(
        f"  AEP_CLIENT_ID={options.client_id} "
        f"AEP_CLIENT_SECRET={_shown_secret(options.client_secret)}"
    )
    click.echo(
        f"  sandboxes: {', '.join(app.sandbox_names())} (AEP_SANDBOX picks one; prod by default)"
    )
    if app.quota is not None:
        click.echo(f"  quota: {app.quota.rate:g} requests/s per client, burst {app.quota.burst}")
    if options.run_every:
        click.echo(f"  dataflows run: one emulated hour every {options.run_every:g}s")
    if options.deliver:
        click.echo(f"  runs delivered to their Kinesis streams at {_kinesis_endpoint()}")


def _serve_until_interrupted(
    app: EmulatorApp, server: ThreadingWSGIServer, run_every: float | None
) -> None:
    ticker = _ticker(app, run_every)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        if ticker is not None:
            ticker.stop()
        server.server_close()
        app.store.close()


def _ticker(app: EmulatorApp, run_every: float | None) -> Ticker | None:
    if not run_every:
        return None
    from provisioner.emulator.clock import Ticker

    ticker = Ticker(app.runs, run_every)
    ticker.start()
    return ticker


def _names(comma_separated: str) -> list[str]:
    return [name.strip() for name in comma_separated.split(",") if name.strip()]


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
