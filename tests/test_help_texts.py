"""Every option a command's help names exists: on that command, or on the command the help
quotes it with (`plan --out`, `provisioner schema --plan`), or on the group (--debug)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import click

from provisioner.cli import cli

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
QUOTED = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class Mention:
    where: str  # the command whose help says it
    option: str
    on: str  # the command it must be an option of


def commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    """Every command under `group`, its lazy ones loaded, by its words (`emulator serve`)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        words = (*prefix, name)
        yield " ".join(words), command
        if isinstance(command, click.Group):
            yield from commands(command, words)


def help_texts(command: click.Command) -> list[str]:
    texts = [command.help or ""]
    texts += [p.help or "" for p in command.params if isinstance(p, click.Option)]
    return texts


def mentions(where: str, text: str, known: set[str]) -> list[Mention]:
    """The options `text` names. In a quoted command line whose first words name a command
    (`plan --out`, `provisioner apply --plan FILE`), its options are that command's; any
    other option named is one of `where`."""
    found = []
    for quoted in QUOTED.findall(text):
        on = _command_in(quoted, known) or where
        found += [Mention(where, option, on) for option in OPTION.findall(quoted)]
    unquoted = QUOTED.sub(" ", text)
    found += [Mention(where, option, where) for option in OPTION.findall(unquoted)]
    return found


def _command_in(quoted: str, known: set[str]) -> str | None:
    words = [w for w in quoted.split() if not w.startswith("-")]
    if words[:1] == ["provisioner"]:
        words = words[1:]
    for length in (2, 1):
        name = " ".join(words[:length])
        if len(words) >= length and name in known:
            return name
    return None


def options_of(command: click.Command) -> set[str]:
    names = {n for p in command.params if isinstance(p, click.Option) for n in p.opts}
    return names | {"--help"}


GROUP_OPTIONS = options_of(cli) | {"--version"}


def false_mentions(every: dict[str, click.Command]) -> list[Mention]:
    known = set(every)
    false = []
    for where, command in every.items():
        for text in help_texts(command):
            for mention in mentions(where, text, known):
                if mention.option not in options_of(every[mention.on]) | GROUP_OPTIONS:
                    false.append(mention)
    return false


def test_every_option_a_help_text_names_exists() -> None:
    every = dict(commands(cli))
    assert {"plan", "apply", "destroy", "show", "emulator serve"} <= set(every)
    checked = [
        m
        for where, c in every.items()
        for t in help_texts(c)
        for m in mentions(where, t, set(every))
    ]
    assert len(checked) > 20  # the texts do name options: the check is not empty
    assert false_mentions(every) == []


def test_destroy_names_no_prune_it_does_not_have() -> None:
    destroy = dict(commands(cli))["destroy"]
    assert "--prune" not in options_of(destroy)
    assert not any("--prune" in text for text in help_texts(destroy))


def test_the_check_finds_an_option_a_command_does_not_have() -> None:
    @click.command(help="Deletes more with --prune; see `plan --out` and `plan --nothing`.")
    @click.option("--only", help="Restrict it; with --prune, fewer.")
    def wrong(only: str) -> None:
        del only

    @click.command()
    @click.option("--out")
    def plan(out: str) -> None:
        del out

    found = false_mentions({"wrong": wrong, "plan": plan})
    assert sorted((m.option, m.on) for m in found) == [
        ("--nothing", "plan"),
        ("--prune", "wrong"),
        ("--prune", "wrong"),
    ]
