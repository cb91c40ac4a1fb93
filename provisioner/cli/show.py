"""`provisioner show`: a saved plan, rendered again, without reading the platform.

The plan's models and renderers are imported when the command runs: its `--help` loads
only click.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from provisioner.cli.common import PLAN_FORMATS, PLAN_FORMATS_HELP, colour
from provisioner.cli.group import cli

if TYPE_CHECKING:
    from provisioner.plan.model import Plan


def load_saved_plan(path: Path) -> Plan:
    """The plan saved at `path`, refused (exit 1) when it is not one, was changed since it
    was saved, or is not signed with PROVISIONER_PLAN_KEY when that key is set."""
    from provisioner.plan.saved import PLAN_KEY_VARIABLE, load_plan

    key = os.environ.get(PLAN_KEY_VARIABLE)
    return load_plan(path, key.encode() if key else None)


@cli.command()
@click.argument("plan_file", metavar="PLAN.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(PLAN_FORMATS),
    default="text",
    show_default=True,
    help=PLAN_FORMATS_HELP,
)
def show(plan_file: Path, output_format: str) -> None:
    """Show a saved plan (from `plan --out`) in any format `plan` prints; reads nothing
    from the platform and needs no credentials.

    The plan file is checked as `apply --plan` checks it: one that is not a saved plan,
    was changed after it was saved, or (with PROVISIONER_PLAN_KEY set) is not signed with
    that key is refused with exit 1. It prints what `plan --format FORMAT` printed when
    the plan was made, local paths relative to the project as the saved plan holds them.
    Exits 0.
    """
    from provisioner.render.formats import render_plan

    the_plan = load_saved_plan(plan_file)
    # As `plan` printed it: the seal belongs to the file, not to the plan it holds.
    shown = the_plan.model_copy(update={"checksum": None, "signature": None})
    click.echo(render_plan(shown, output_format, colour=colour()), nl=False)
