"""The documentation holds: every relative link (and `#anchor` into a Markdown heading)
resolves, every `provisioner …` command shown in a shell block names a real command with
options it has (and values its choices allow), and the README stays short.

Commands are checked against the click group itself, its lazy commands loaded, so a renamed
option or a typo in the docs fails here rather than in a reader's terminal."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from check_jsonschema.cli.main_command import main as check_jsonschema
from click.testing import CliRunner

from provisioner.cli.group import LAZY_COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 20_000
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+).*?\1")
SHELL_BLOCKS = {"sh", "bash", "shell", "console", "zsh"}
SEPARATORS = {"&&", "||", ";", "|", "&"}
REDIRECT = re.compile(r"^\d*(>>?|<)(&\d+)?")
GLOBAL_OPTIONS = {"--debug"}  # the group's own, accepted anywhere on the command line


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]
    found += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "examples").rglob("*.md"))
    return [path for path in found if path.is_file()]


def names(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


@dataclass(frozen=True)
class Block:
    language: str
    lines: list[str]


def split_markdown(text: str) -> tuple[list[str], list[Block]]:
    """The prose lines (outside fenced code) and the fenced blocks of a document."""
    prose: list[str] = []
    blocks: list[Block] = []
    fence: tuple[str, str] | None = None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = (opened.group(2), opened.group(3).lower())
            blocks.append(Block(fence[1], []))
        elif fence is not None and line.strip().startswith(fence[0][0] * len(fence[0])):
            if line.strip().strip(fence[0][0]) == "":
                fence = None
            else:
                blocks[-1].lines.append(line)
        elif fence is not None:
            blocks[-1].lines.append(line)
        else:
            prose.append(line)
    return prose, blocks


# links and anchors ------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, links reduced to their text, punctuation
    removed (letters, digits, `_`, `-` and spaces stay), each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose:
        heading = HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    prose, _ = split_markdown(path.read_text(encoding="utf-8"))
    # Joined, so that a link broken over two lines is found; code spans hold no links.
    text = INLINE_CODE.sub("", "\n".join(prose))
    for match in LINK.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1)


def broken_link(source: Path, target: str) -> str | None:
    """Why `target`, linked from `source`, does not resolve; None when it does."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return None  # a URL: not ours to fetch
    location, _, anchor = target.partition("#")
    resolved = (source.parent / location).resolve() if location else source
    if not resolved.is_relative_to(ROOT):
        return f"{target} leads out of the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor:
        if resolved.suffix != ".md" or not resolved.is_file():
            return f"{target}: an anchor into something that is not a Markdown file"
        if anchor not in anchors(resolved):
            return f"{target}: no heading with the anchor #{anchor} in {resolved.name}"
    return None


@pytest.mark.parametrize("path", documents(), ids=names(documents()))
def test_every_relative_link_resolves(path: Path) -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {why}"
        for line, target in links(path)
        if (why := broken_link(path, target)) is not None
    ]
    assert problems == []


def test_the_link_check_catches_what_it_should(tmp_path: Path) -> None:
    page = ROOT / "docs" / "safety.md"
    assert broken_link(page, "configuration.md#where-it-connects") is None
    assert broken_link(page, "#envname-which-variables-manifests-may-read") is None
    assert broken_link(page, "../README.md") is None
    assert broken_link(page, "https://example.com/nowhere.md#x") is None
    assert "no such file" in str(broken_link(page, "configuraton.md"))
    assert "no heading" in str(broken_link(page, "configuration.md#where-it-connect"))
    assert "out of the repository" in str(broken_link(page, "../../etc/passwd"))
    doc = tmp_path / "a.md"
    doc.write_text("```\n[x](gone.md)\n```\nSee `[y](gone.md)` and [z](\ngone.md).\n")
    assert [target for _, target in links(doc)] == ["gone.md"]  # only z: code holds no links


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("`${env:NAME}`: which variables manifests may read",
         "envname-which-variables-manifests-may-read"),
        ("Concurrency: create-then-settle", "concurrency-create-then-settle"),
        ("Saved plans: apply what was reviewed", "saved-plans-apply-what-was-reviewed"),
        ("The [emulator](emulator.md) clock", "the-emulator-clock"),
    ],
)  # fmt: skip
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n## Example\ntext\n## Example\n```\n# not a heading\n```\n")
    assert anchors(doc) == {"title", "example", "example-1"}


# commands --------------------------------------------------------------------------------


def shown_commands(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Each `provisioner …` command of the shell blocks (and `$ provisioner` lines of text
    blocks), as the words after `provisioner`: comments, redirections and the rest of a
    pipeline left out."""
    _, blocks = split_markdown(path.read_text(encoding="utf-8"))
    for block in blocks:
        shell = block.language in SHELL_BLOCKS
        for line in _logical(block.lines):
            text = line.strip()
            if text.startswith("$ "):
                text = text[2:]
            elif not shell:
                continue
            yield from _commands(text)


def _logical(lines: list[str]) -> Iterator[str]:
    """Lines with their `\\` continuations joined."""
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _commands(line: str) -> Iterator[tuple[str, list[str]]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:  # an unfinished quote: prose in a text block, not a command
        return
    command: list[str] = []
    for word in [*words, ";"]:
        if word in SEPARATORS:
            if command[:1] == ["provisioner"]:
                yield line, command[1:]
            command = []
        elif REDIRECT.match(word):
            command.append("\0")  # the command's words end here
        else:
            command.append(word)


def problem_of(words: list[str]) -> str | None:
    """Why `provisioner WORDS` is not a command line the CLI takes; None when it is."""
    words = [w for w in words if w not in GLOBAL_OPTIONS]
    if "\0" in words:
        words = words[: words.index("\0")]
    command: click.Command = cli
    path = ["provisioner"]
    while isinstance(command, click.Group):
        if not words or words[0].startswith("-"):
            return _check_options(command, words, path)
        sub = command.get_command(click.Context(command), words[0])
        if sub is None:
            return f"{' '.join(path)} has no command {words[0]!r}"
        path.append(words.pop(0))
        command = sub
    return _check_options(command, words, path)


def _check_options(command: click.Command, words: list[str], path: list[str]) -> str | None:
    options: dict[str, click.Option | None] = dict.fromkeys(("-h", "--help"))
    for param in command.params:
        if isinstance(param, click.Option):
            options |= dict.fromkeys([*param.opts, *param.secondary_opts], param)
    positional = 0
    while words:
        word = words.pop(0)
        if word == "--":
            positional += len(words)
            break
        if not word.startswith("-") or word == "-":
            positional += 1
            continue
        name, has_value, value = word.partition("=")
        if name not in options:
            return f"{' '.join(path)} has no option {name}"
        option = options[name]
        if option is None or option.is_flag or option.count:
            if has_value:
                return f"{' '.join(path)} {name} takes no value"
            continue
        if not has_value:
            # An optional value (`--wait-healthy [TIMEOUT]`) takes the next word unless it
            # is an option, as click reads it.
            optional = bool(getattr(option, "_flag_needs_value", False))
            if optional and (not words or words[0].startswith("-")):
                continue
            if not words:
                return f"{' '.join(path)} {name} needs a value"
            value = words.pop(0)
        if isinstance(option.type, click.Choice) and value not in option.type.choices:
            return f"{' '.join(path)} {name} {value!r} is not one of {list(option.type.choices)}"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if all(a.nargs >= 0 for a in arguments):
        most = sum(a.nargs for a in arguments)
        if positional > most:
            return f"{' '.join(path)} takes at most {most} argument(s), given {positional}"
    return None


def all_shown() -> list[tuple[Path, str, list[str]]]:
    return [(path, line, words) for path in documents() for line, words in shown_commands(path)]


def test_the_docs_show_commands() -> None:
    """The check below reads something: the docs do show commands, in several files."""
    shown = all_shown()
    assert len(shown) >= 20
    assert len({path for path, _, _ in shown}) >= 4


@pytest.mark.parametrize(
    ("path", "line", "words"),
    all_shown(),
    ids=[f"{p.relative_to(ROOT)}: {line.strip()[:60]}" for p, line, _ in all_shown()],
)
def test_every_command_shown_exists_with_its_options(
    path: Path, line: str, words: list[str]
) -> None:
    assert problem_of(list(words)) is None, f"{path.relative_to(ROOT)}: {line.strip()}"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("provisioner plna destinations", "provisioner has no command 'plna'"),
        ("provisioner plan --detailed-exitcod",
         "provisioner plan has no option --detailed-exitcod"),
        ("provisioner plan --format yaml > p", "provisioner plan --format 'yaml' is not one of"),
        ("provisioner emulator advanse --hours 2", "provisioner emulator has no command 'advanse'"),
        ("provisioner emulator advance --hour 2",
         "provisioner emulator advance has no option --hour"),
        ("provisioner apply --auto-approve=yes", "provisioner apply --auto-approve takes no value"),
        ("provisioner show a.json b.json", "provisioner show takes at most 1 argument(s), given 2"),
        ("cd x && provisioner validate --strict", "provisioner validate has no option --strict"),
    ],
)  # fmt: skip
def test_the_command_check_catches_typos(line: str, problem: str) -> None:
    [(_, words)] = list(_commands(line))
    assert problem in str(problem_of(words))


@pytest.mark.parametrize(
    "line",
    [
        "provisioner --debug plan destinations --format=markdown > plan.md",
        "provisioner apply --plan plan.json --auto-approve --wait-healthy=90m",
        "provisioner apply destinations --wait-healthy --auto-approve",
        "provisioner emulator audiences seed --db e.db --sandbox dev list.yaml --replace",
        "provisioner plan --env prod | tee plan.txt",
        "provisioner validate  # offline",
    ],
)
def test_the_command_check_accepts_real_command_lines(line: str) -> None:
    [(_, words)] = list(_commands(line))
    assert problem_of(words) is None


def test_every_command_is_documented() -> None:
    """Each command of the CLI appears in the README's table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in sorted({*LAZY_COMMANDS, *cli.commands}):
        assert f"`provisioner {name}" in readme, name


def test_the_readmes_pipeline_is_a_valid_ten_line_workflow(tmp_path: Path) -> None:
    _, blocks = split_markdown((ROOT / "README.md").read_text(encoding="utf-8"))
    [pipeline] = [b for b in blocks if b.language == "yaml" and "jobs:" in b.lines]
    assert len(pipeline.lines) <= 10
    workflow = tmp_path / "workflow.yml"
    workflow.write_text("\n".join(pipeline.lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        check_jsonschema,
        ["--builtin-schema", "vendor.github-workflows", "--disable-formats", "*", str(workflow)],
    )
    assert result.exit_code == 0, result.output


def test_the_readme_is_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move reference into docs/"
