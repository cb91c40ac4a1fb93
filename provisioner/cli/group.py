"""The `provisioner` command group and its global options."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from provisioner import __version__
from provisioner.platform.redact import REDACTOR, RedactingFilter

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="provisioner")
@click.option("--debug", is_flag=True, help="Print debug logs and full tracebacks on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Adobe Experience Platform streaming destinations as code.

    Describe Amazon Kinesis and Azure Event Hubs destinations in YAML manifests, check
    them offline with `validate`, see what would change on the platform with `plan`, and
    make it so with `apply`. With no AEP credentials configured, everything runs against
    the embedded emulator in .provisioner/.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        _log_to_stderr()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """Debug logs on stderr, every line passed through the secret redactor first."""
    logger = logging.getLogger("provisioner")
    logger.setLevel(logging.DEBUG)
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(REDACTOR))
    logger.addHandler(handler)
