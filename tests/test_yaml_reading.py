"""The YAML reader: values, positions and bounds, the same with libyaml and without it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from provisioner.manifest import load_and_check, yamlread
from provisioner.manifest.files import walk_manifest_files
from provisioner.manifest.yamlread import YamlMap, YamlRefused, YamlSeq, parse_documents

ROOT = Path(__file__).parent.parent
CORPUS = sorted((ROOT / "examples").rglob("*.yaml")) + sorted(
    (ROOT / "tests" / "manifests" / "broken").glob("*.yaml")
)


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "pure-python":
        monkeypatch.setattr(yamlread, "CParser", None)
    elif yamlread.parser_kind() != "libyaml":
        pytest.skip("libyaml's parser is not installed")
    yield request.param


def positioned(value: Any) -> Any:
    """A value with every position spelt out, to compare two readings exactly.

    An empty value has no place of its own (libyaml puts it after the line break, ruamel
    after the colon); problems about a null point at its key, so it is left out.
    """
    if isinstance(value, YamlMap):
        return {
            "at": (value.line, value.column),
            "items": [
                (k, value.key_positions[k], v is None or value.value_positions[k], positioned(v))
                for k, v in value.items()
            ],
        }
    if isinstance(value, YamlSeq):
        items = zip(value.item_positions, map(positioned, value), strict=True)
        return {"at": (value.line, value.column), "items": list(items)}
    return value


def read_or_error(text: str) -> Any:
    try:
        return [positioned(document) for document in parse_documents(text)]
    except MarkedYAMLError as error:
        mark = error.problem_mark
        return ("error", str(error.problem), mark.line if mark else None)
    except YamlRefused as refused:
        return ("refused", refused.message, refused.line, refused.column)


def test_both_parsers_read_every_example_and_broken_manifest_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if yamlread.parser_kind() != "libyaml":
        pytest.skip("libyaml's parser is not installed")
    texts = [path.read_text(encoding="utf-8") for path in CORPUS]
    fast = [read_or_error(text) for text in texts]
    monkeypatch.setattr(yamlread, "CParser", None)
    assert [read_or_error(text) for text in texts] == fast


def test_positions_of_keys_values_and_items(parser: str) -> None:
    [document] = parse_documents("a: 1\nlist:\n  - x\n  -   y\nmap: {k: v}\n")
    assert isinstance(document, YamlMap)
    assert (document.line, document.column) == (0, 0)
    assert document.key_positions["list"] == (1, 0)
    assert document.value_positions["a"] == (0, 3)
    assert document["list"].item_positions == [(2, 4), (3, 6)]
    assert document["map"].value_positions["k"] == (4, 9)


def test_yaml_1_2_scalars_and_the_1_1_directive(parser: str) -> None:
    text = "a: yes\nb: 0o17\nc: 017\nd: true\ne: ~\nf: '1'\ng: 1.5\n"
    assert parse_documents(text) == [
        {"a": "yes", "b": 15, "c": 17, "d": True, "e": None, "f": "1", "g": 1.5}
    ]
    assert parse_documents("%YAML 1.1\n---\na: yes\nb: 017\n") == [{"a": True, "b": 15}]


def test_anchors_aliases_and_merge_keys(parser: str) -> None:
    text = "base: &base {region: us-east-1, stream: s}\none:\n  <<: *base\n  stream: t\n"
    [document] = parse_documents(text)
    assert document["one"] == {"stream": "t", "region": "us-east-1"}
    # a merged key points where it was written, in the anchored mapping
    assert document["one"].value_positions["region"] == (0, 21)


def test_duplicate_keys_are_refused_where_they_repeat(parser: str) -> None:
    with pytest.raises(YamlRefused) as refused:
        parse_documents("top:\n  a: 1\n  b: 2\n  a: 3\n")
    assert (refused.value.message, refused.value.line) == (
        "duplicate key 'a' (the mapping starting at line 2)",
        3,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [1, *a]\n", r"the alias \*a refers to a collection that contains it"),
        ("a: &a [[[[1]]]]\n" + "b: " + "[" * 61 + "*a" + "]" * 61, "nested deeper than 64"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
        ("? [a]\n: 1\n", "a mapping key must be a scalar"),
        ("a: !!set {x}\n", "the tag tag:yaml.org,2002:set is not supported"),
    ],
)
def test_documents_beyond_the_bounds_are_refused(parser: str, text: str, message: str) -> None:
    with pytest.raises(YamlRefused, match=message):
        parse_documents(text)


def test_alias_expansion_is_counted_over_the_whole_file(parser: str) -> None:
    node = "k: &k [" + ", ".join(["x"] * 99) + "]\n"  # 100 nodes
    within = node + "".join(f"a{i}: *k\n" for i in range(100))  # 10,000 from aliases
    assert len(parse_documents(within)[0]) == 101
    with pytest.raises(YamlRefused, match="YAML aliases expand past 10,000 nodes"):
        parse_documents(within + "one-more: *k\n")


def test_an_undefined_alias_is_invalid_yaml(parser: str) -> None:
    with pytest.raises(MarkedYAMLError, match="found undefined alias 'nope'"):
        parse_documents("a: *nope\n")


def test_a_late_syntax_error_in_a_big_file_keeps_its_position(tmp_path: Path) -> None:
    # Past the re-parse limit libyaml's own wording is shown; the position is the same.
    padding = "# padding line to push the error far into the file\n" * 12_000
    path = tmp_path / "late.yaml"
    path.write_text(padding + "a: [b\nc: d\n", encoding="utf-8")
    [problem] = load_and_check([path]).problems
    assert problem.location.line == 12_002
    assert problem.message.startswith("invalid YAML: ")


def test_the_folder_walk_is_sorted_skips_dot_folders_and_symlinked_folders(
    tmp_path: Path,
) -> None:
    for name in ("b/two.yml", "a.yaml", "b.yaml", "c/d/three.yaml", ".hidden/x.yaml", "n.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    os.symlink(tmp_path, tmp_path / "c" / "loop")
    found = [
        p.relative_to(tmp_path).as_posix() for p in walk_manifest_files(tmp_path, (".yaml", ".yml"))
    ]
    assert found == ["a.yaml", "b/two.yml", "b.yaml", "c/d/three.yaml"]
    assert found == sorted(found, key=lambda p: Path(p).parts)


def test_remembered_scalar_tags_are_bounded_and_never_change_a_value() -> None:
    """Plain scalars' tags are remembered across files (manifests repeat their keys), but
    only so many, however many distinct scalars a hostile file holds; and a remembered tag
    gives the same values as resolving afresh, in either YAML version."""
    many = "\n".join(f"- item-{i}" for i in range(yamlread._REMEMBERED + 500))
    assert len(parse_documents(many)[0]) == yamlread._REMEMBERED + 500
    remembered = yamlread._scalars((1, 2)).plain_tags
    assert len(remembered) <= yamlread._REMEMBERED
    text = "a: 012\nb: yes\nc: 1_000\nd: ~\ne: 0x1F\nf: 2001-12-14\ng: .inf\n"
    for version in ("", "%YAML 1.1\n---\n"):
        reference = YAML(typ="safe", pure=True).load(version + text)
        first = parse_documents(version + text)[0]  # resolving
        again = parse_documents(version + text)[0]  # from what was remembered
        assert first == again == reference
