"""What the `provisioner emulator …` commands share: the data file, and turning the
emulator's own errors into the command line's."""

from __future__ import annotations

from pathlib import Path

import click

from provisioner.emulator.sandboxes import check_name
from provisioner.emulator.seeds import AudienceSeed, SeedError, load_seed_file
from provisioner.emulator.store import Store, StoreFileError

DEFAULT_DB = Path(".provisioner") / "emulator.db"

db_option = click.option(
    "--db",
    default=str(DEFAULT_DB),
    show_default=True,
    help="The emulator's SQLite file (the embedded emulator's by default).",
)


def open_store(db: str) -> Store:
    try:
        return Store(db)
    except StoreFileError as error:
        raise click.ClickException(str(error)) from None


def load_seed(path: str, sandbox: str | None) -> dict[str, list[AudienceSeed]]:
    try:
        return load_seed_file(path, sandbox)
    except SeedError as error:
        raise click.ClickException(str(error)) from None


def sandbox_names(names: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(check_name(name) for name in names)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
