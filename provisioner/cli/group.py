"""The `provisioner` command group and its global options.

The commands live in modules that import what they need to run (pydantic models, httpx, the
emulator); the group imports a command's module only when that command is run or asked for
its own help, so `provisioner --help` and a typo answer at once.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from provisioner import __version__
from provisioner.platform.redact import REDACTOR, RedactingFilter

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEBUG_FLAG = "--debug"
LOG_VARIABLE = "PROVISIONER_LOG"


class LazyCommand:
    """Where a command lives, and the first paragraph of its help (its docstring's), which
    the group's own `--help` lists without importing the module."""

    def __init__(self, module: str, attribute: str, summary: str) -> None:
        self.module = module
        self.attribute = attribute
        self.summary = summary

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module), self.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.module}.{self.attribute} is not a click command")
        return command

    def stand_in(self, name: str) -> click.Command:
        """A command that only answers the listing: its name and its short help."""
        return click.Command(name, help=self.summary)


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "validate": LazyCommand(
        "provisioner.cli.offline",
        "validate",
        "Check manifests offline: YAML, schema, and checks across manifests.",
    ),
    "schema": LazyCommand(
        "provisioner.cli.offline",
        "schema",
        "Print the manifest's JSON Schema (the same as schemas/manifest.schema.json).",
    ),
    "plan": LazyCommand(
        "provisioner.cli.live_commands",
        "plan",
        "Show what `apply` would change on the platform; changes nothing.",
    ),
    "apply": LazyCommand(
        "provisioner.cli.apply",
        "apply",
        "Make the platform match the manifests in PATHS (default: the project's manifests).",
    ),
    "destroy": LazyCommand(
        "provisioner.cli.live_commands",
        "destroy",
        "Delete the dataflows the manifests in PATHS name, then the target connections and "
        "accounts no remaining dataflow uses. Needs no secrets.",
    ),
    "import": LazyCommand(
        "provisioner.cli.live_commands",
        "import_",
        "Write a manifest for a live dataflow and bring it under management.",
    ),
    "status": LazyCommand(
        "provisioner.cli.status",
        "status",
        "Show whether each dataflow of the manifests is delivering: last run, identities, errors.",
    ),
    "check": LazyCommand(
        "provisioner.cli.check",
        "check",
        "Ask each destination whether its stream or hub exists and takes the credentials.",
    ),
    "comment": LazyCommand(
        "provisioner.cli.comment",
        "comment",
        "Post PLAN.md (from `plan --format markdown`) on the pull or merge request.",
    ),
    "show": LazyCommand(
        "provisioner.cli.show",
        "show",
        "Show a saved plan (from `plan --out`) in any format `plan` prints; reads nothing "
        "from the platform and needs no credentials.",
    ),
    "emulator": LazyCommand(
        "provisioner.emulator.cli",
        "emulator",
        "The local Flow Service emulator (no AEP account needed).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands (`LAZY_COMMANDS`) are imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            lazy = LAZY_COMMANDS[cmd_name]
            if self._listing:
                return lazy.stand_in(cmd_name)
            self.add_command(lazy.load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # --debug anywhere (before a `--`) is the group's own option, moved to the front.
        return super().parse_args(ctx, debug_first(args))


def debug_first(args: Sequence[str]) -> list[str]:
    """`args` with every --debug before a `--` taken out, and one put first if any was."""
    end = args.index("--") if "--" in args else len(args)
    options, rest = list(args[:end]), list(args[end:])
    kept = [arg for arg in options if arg != DEBUG_FLAG]
    return ([DEBUG_FLAG] if len(kept) < len(options) else []) + kept + rest


def debug_requested(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether a run asked for debug output: --debug anywhere before a `--`, or
    PROVISIONER_LOG=debug (any case)."""
    return DEBUG_FLAG in debug_first(args)[:1] or _log_level(environ) == "debug"


def _log_level(environ: Mapping[str, str]) -> str:
    return environ.get(LOG_VARIABLE, "").strip().lower()


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="provisioner")
@click.option(
    DEBUG_FLAG,
    is_flag=True,
    help=f"Print debug logs and full tracebacks on stderr (anywhere on the command line; "
    f"or set {LOG_VARIABLE}=debug).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Adobe Experience Platform streaming destinations as code.

    Describe Amazon Kinesis and Azure Event Hubs destinations in YAML manifests, check
    them offline with `validate`, see what would change on the platform with `plan`, and
    make it so with `apply`. With no AEP credentials configured, everything runs against
    the embedded emulator in .provisioner/.
    """
    level = _log_level(os.environ)
    if level not in ("", "debug"):
        click.echo(
            # !a: the value is shown quoted, any control character escaped
            f"warning: {LOG_VARIABLE}={level!a} is not a level provisioner knows (debug); ignored",
            err=True,
        )
    debug = debug or level == "debug"
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _log_to_stderr(debug)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _log_to_stderr(debug: bool) -> None:
    """Debug logs on stderr with --debug, every line passed through the secret redactor
    first; without it, none (a run in the same process as an earlier --debug one, as under
    a test runner, gets no debug lines)."""
    logger = logging.getLogger("provisioner")
    ours = [h for h in logger.handlers if isinstance(h, _StderrHandler)]
    if not debug:
        logger.setLevel(logging.NOTSET)
        for handler in ours:
            logger.removeHandler(handler)
        return
    logger.setLevel(logging.DEBUG)
    if ours:
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(REDACTOR))
    logger.addHandler(handler)
