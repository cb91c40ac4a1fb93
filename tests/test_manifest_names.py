"""Names and descriptions: printable text only; earlier names (`renamedFrom`); audiences by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.fields.printable import first_control_character
from provisioner.manifest import (
    IdentifiedAudience,
    UnresolvedAudienceError,
    audience_refs,
    load_and_check,
)

HEAD = "version: 1\nname: {name}\n"
BODY = """\
destination:
  type: amazon-kinesis
  account: {account}
  region: us-east-1
  stream: orders
  credentials:
    accessKeyId: ${{env:AWS_KEY_ID}}
    secretKey: ${{env:AWS_SECRET}}
"""
AUDIENCE_ID = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"


def manifest(name: str = "orders", extra: str = "", account: str = "acct") -> str:
    return HEAD.format(name=name) + extra + BODY.format(account=account)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return [p.format().removeprefix(f"{path}:") for p in load_and_check([path]).problems]


@pytest.mark.parametrize(
    ("character", "escaped"),
    [
        ("\x00", "\\x00"),
        ("\x07", "\\x07"),
        ("\t", "\\t"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\x1b", "\\x1b"),
        ("\x1f", "\\x1f"),
        ("\x7f", "\\x7f"),
        ("\x80", "\\x80"),
        ("\x85", "\\x85"),
        ("\x9b", "\\x9b"),
        ("\x9f", "\\x9f"),
    ],
)
@pytest.mark.parametrize(
    ("field", "template", "path", "column"),
    [
        ("name", 'name: "a{c}b"\n', "name", 7),
        ("description", 'description: "a{c}b"\n', "description", 14),
        ("renamedFrom", 'renamedFrom: ["a{c}b"]\n', "renamedFrom[0]", 15),
        ("account", None, "destination.account", 12),
        ("audience name", 'audiences:\n  - name: "a{c}b"\n', "audiences[0].name", 11),
        (
            "audience description",
            f'audiences:\n  - id: {AUDIENCE_ID}\n    description: "a{{c}}b"\n',
            "audiences[0].description",
            18,
        ),
    ],
)
def test_a_control_character_is_an_error_shown_escaped(
    tmp_path: Path,
    character: str,
    escaped: str,
    field: str,
    template: str | None,
    path: str,
    column: int,
) -> None:
    code = f"\\x{ord(character):02x}"  # as a YAML escape, so that the file itself is valid
    if field == "name":
        text = HEAD.replace("name: {name}\n", template.format(c=code) if template else "")
        text += BODY.format(account="acct")
    elif field == "account":
        text = manifest(account=f'"a{code}b"')
    else:
        text = manifest(extra=(template or "").format(c=code))
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    line = text.splitlines().index(next(ln for ln in text.splitlines() if code in ln)) + 1
    assert problems[0] == (
        f"{line}:{column}: error: contains the control character {escaped} (character 2); "
        f"only printable characters are allowed (at {path})"
    )
    assert character not in problems[0]


def test_validate_never_prints_a_control_character(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest(name='"orders\\e]0;pwned\\a\\e[2J"'), encoding="utf-8")
    for output_format in ("text", "json"):
        result = CliRunner().invoke(cli, ["validate", "--format", output_format, str(path)])
        assert result.exit_code == 1
        assert not any(first_control_character(line) for line in result.output.splitlines())
    report = json.loads(result.output)
    assert report["problems"][0]["message"].startswith("contains the control character \\x1b")


@pytest.mark.parametrize(
    "name",
    [
        "Men over 50",
        "a;b=c",
        'it\'s "quoted"',
        "Ümlaut ünd 日本語 名前",
        "emoji 🚀 ok",
        "x" * 256,
        "a  b",
    ],
)
def test_a_name_may_hold_any_printable_character(tmp_path: Path, name: str) -> None:
    quoted = json.dumps(name, ensure_ascii=False)  # JSON strings are YAML double-quoted ones
    earlier = json.dumps("v1 " + name[:200], ensure_ascii=False)
    text = manifest(name=quoted, extra=f"renamedFrom: [{earlier}]\n")
    text += f"audiences:\n  - name: {quoted}\n    description: {quoted}\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_and_check([path])
    assert result.problems == []
    loaded = result.manifests[0].manifest
    assert loaded.name == name
    assert loaded.renamedFrom == ["v1 " + name[:200]]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('""', "must not be empty"),
        ('" orders"', "must not be empty or start or end with spaces"),
        ('"orders "', "must not be empty or start or end with spaces"),
        ('"x${var:env}"', "variables are not allowed here; only in description and "),
    ],
)
def test_names_refused(tmp_path: Path, name: str, message: str) -> None:
    problems = problems_of(tmp_path, manifest(name=name))
    assert len(problems) == 1
    assert problems[0].startswith(f"2:7: error: {message}")


@pytest.mark.parametrize(
    ("renamed", "expected"),
    [
        ("[old]", []),
        ("[]", []),
        (
            "[orders]",
            ["3:15: error: 'orders' is this dataflow's current name, not an earlier one"],
        ),
        ("[a, b, a]", ["3:21: error: earlier name 'a' is listed twice (first at line 3)"]),
        ('[""]', ["3:15: error: must not be empty"]),
        ('["old "]', ["3:15: error: must not be empty or start or end with spaces"]),
        ("old", ["3:14: error: expected a list, got a string"]),
        ('["${var:x}"]', ["3:15: error: variables are not allowed here; only in description"]),
    ],
)
def test_renamed_from_rules(tmp_path: Path, renamed: str, expected: list[str]) -> None:
    problems = problems_of(tmp_path, manifest(extra=f"renamedFrom: {renamed}\n"))
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_earlier_names_are_unique_across_a_run(tmp_path: Path) -> None:
    first = manifest(name="a", extra="renamedFrom: [x, y]\n", account="a")
    (tmp_path / "1.yaml").write_text(first, encoding="utf-8")
    (tmp_path / "2.yaml").write_text(
        manifest(name="b", extra="renamedFrom: [a, x, z]\n", account="b")
        + "---\n"
        + manifest(name="z", account="c"),
        encoding="utf-8",
    )
    problems = [p.format() for p in load_and_check([tmp_path]).problems]
    first_file, second = tmp_path / "1.yaml", tmp_path / "2.yaml"
    assert problems == [
        f"{second}:3:15: error: earlier name 'a' is the name of the manifest at "
        f"{first_file}:2:7 (at renamedFrom[0])",
        f"{second}:3:18: error: earlier name 'x' is also claimed by the manifest at "
        f"{first_file}:3:15 (at renamedFrom[1])",
        f"{second}:3:21: error: earlier name 'z' is the name of the manifest at "
        f"{second}:14:7 (at renamedFrom[2])",
    ]


# Audiences by name alone.


def test_audiences_by_id_by_name_and_both(tmp_path: Path) -> None:
    other = "7841ba61-23c1-4bb3-a495-00d695fe1e93"
    extra = (
        "audiences:\n"
        "  - name: Men over 50\n"
        "    description: by name\n"
        f"  - id: {AUDIENCE_ID}\n"
        "    name: Lapsed 90 days\n"
        f"  - {other}\n"
    )
    path = tmp_path / "m.yaml"
    path.write_text(manifest() + extra, encoding="utf-8")
    result = load_and_check([path])
    assert result.problems == []
    refs = audience_refs(result.manifests[0])
    assert [(r.id, r.name, r.description, r.path) for r in refs] == [
        (None, "Men over 50", "by name", "audiences[0]"),
        (AUDIENCE_ID, "Lapsed 90 days", None, "audiences[1]"),
        (other, None, None, "audiences[2]"),
    ]
    assert [(r.location.line, r.location.column) for r in refs] == [(12, 5), (14, 5), (16, 5)]

    loaded = result.manifests[0].manifest
    with pytest.raises(UnresolvedAudienceError, match="'Men over 50' is given by name"):
        loaded.audience_objects()
    resolved = loaded.with_audience_ids({"Men over 50": "11111111-2222-3333-4444-555555555555"})
    assert resolved.audience_objects() == [
        IdentifiedAudience("11111111-2222-3333-4444-555555555555", "Men over 50", "by name"),
        IdentifiedAudience(AUDIENCE_ID, "Lapsed 90 days", None),
        IdentifiedAudience(other, None, None),
    ]
    assert loaded.audience_entries()[0].id is None  # the original is unchanged


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["name: A", "name: B"], []),
        (["name: A", "name: a"], []),  # exact names: resolution decides what they mean
        (["name: A", "name: A"], ["13:5: error: audience 'A' (by name) is listed twice"]),
        ([f"id: {AUDIENCE_ID}", f"id: {AUDIENCE_ID.upper()}"], ["13:5: error: audience 72DDD"]),
        # The same name with an id is a different key: only names alone are compared.
        (["name: A", f"id: {AUDIENCE_ID}\n    name: A"], []),
        (["description: d"], ["12:5: error: an audience needs an id, or a name"]),
        (["{}"], ["12:5: error: an audience needs an id, or a name"]),
        (["name: ''"], ["12:5: error: an audience needs an id, or a name"]),
        (["name: A\n    colour: red"], ["13:5: error: unknown key 'colour'"]),
    ],
)
def test_audience_entries(tmp_path: Path, entries: list[str], expected: list[str]) -> None:
    extra = "audiences:\n" + "".join(f"  - {entry}\n" for entry in entries)
    problems = problems_of(tmp_path, manifest() + extra)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem
