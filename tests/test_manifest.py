"""Loading valid manifests: examples, shorthand, documents, directories, soft limits."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli, schema_text
from provisioner.destinations.kinesis import KinesisDestination
from provisioner.manifest import load_and_check

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "destinations"
SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/manifest.schema.json"

KINESIS = """\
version: 1
name: {name}
destination:
  type: amazon-kinesis
  region: us-east-1
  stream: orders
  credentials:
    accessKeyId: ${{env:AWS_KEY_ID}}
    secretKey: ${{file:aws-secret}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_example_validates() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "5 manifest(s) in 4 file(s): 0 error(s), 0 warning(s)" in result.output


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_starts_with_the_schema_comment(example: Path) -> None:
    assert example.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_COMMENT


def test_schema_file_is_current() -> None:
    committed = (ROOT / "schemas" / "manifest.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run: provisioner schema > schemas/manifest.schema.json"


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"version", "name", "destination"}


def test_examples_conform_to_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_text())
    result = load_and_check([EXAMPLES])
    for loaded in result.manifests:
        document = json.loads(json.dumps(loaded.node, default=str))
        jsonschema.validate(document, schema)


def test_bare_audience_ids_expand_to_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # its ${file:} secret must be inside the project
    text = KINESIS.format(name="orders") + (
        "audiences:\n  - 72ddd79b-6b0a-4e97-a8d2-112ccd81bd02\n"
        "  - id: 7841ba61-23c1-4bb3-a495-00d695fe1e93\n    name: Buyers\n"
    )
    result = load_and_check([write(tmp_path, "m.yaml", text)])
    assert not result.problems
    audiences = result.manifests[0].manifest.audience_objects()
    assert [(a.id[:8], a.name) for a in audiences] == [("72ddd79b", None), ("7841ba61", "Buyers")]


def test_directories_are_searched_recursively_and_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b/deep/two.yml", KINESIS.format(name="two"))
    write(tmp_path, "a.yaml", KINESIS.format(name="one") + "---\n" + KINESIS.format(name="three"))
    write(tmp_path, "notes.txt", "not a manifest")
    result = load_and_check([tmp_path])
    assert [m.manifest.name for m in result.manifests] == ["one", "three", "two"]
    assert [m.document for m in result.manifests] == [0, 1, 0]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope'}: error: no such file or directory" in result.output


def test_soft_limits_warn_but_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # its ${file:} secret must be inside the project
    ids = "".join(f"  - {uuid.uuid4()}\n" for _ in range(251))
    paths = "".join(f"  - field{i}\n" for i in range(51))
    text = KINESIS.format(name="big") + "audiences:\n" + ids + "attributes:\n" + paths
    result = CliRunner().invoke(cli, ["validate", str(write(tmp_path, "big.yaml", text))])
    assert result.exit_code == 0
    assert "big.yaml:10:1: warning: 251 audiences exceed the platform's soft limit of 250" in (
        result.output
    )
    assert "big.yaml:262:1: warning: 51 attributes exceed the platform's soft limit of 50" in (
        result.output
    )


def test_json_output(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", KINESIS.format(name="orders") + "extra: 1\n")
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "severity": "error",
            "file": str(path),
            "line": 10,
            "column": 1,
            "path": "extra",
            "message": "unknown key 'extra'; expected one of: version, name, renamedFrom, "
            "description, enabled, destination, audiences, attributes",
        }
    ]


def test_accounts_shared_with_the_same_settings_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # its ${file:} secret must be inside the project
    text = KINESIS.replace("  region:", "  account: shared\n  region:")
    path = write(tmp_path, "m.yaml", text.format(name="a") + "---\n" + text.format(name="b"))
    result = load_and_check([path])
    assert not result.problems
    assert {m.manifest.account_key for m in result.manifests} == {"shared"}
    assert isinstance(result.manifests[0].manifest.destination, KinesisDestination)
