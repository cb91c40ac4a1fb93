"""Names are compared after Unicode NFC normalisation (contract section 6).

An editor may save `café` as one code point (NFC, U+00E9) or as `e` and a combining accent
(NFD, U+0065 U+0301). Both display the same, so the tool treats them as one name: the
manifest layer normalises names, earlier names and account keys to NFC when it loads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.manifest import load_and_check, load_paths, substitute_vars
from tests.workspace import Workspace, kinesis

NFC = "caf\u00e9"
NFD = "cafe\u0301"
ACCOUNT = """\
version: 1
name: {name}
destination:
  type: amazon-kinesis
  account: {account}
  region: {region}
  stream: orders
  credentials:
    accessKeyId: ${{env:AWS_KEY_ID}}
    secretKey: ${{env:AWS_SECRET}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.output


def test_the_two_spellings_differ_before_normalisation() -> None:
    # Guards the fixtures themselves: were they equal, every test below would prove nothing.
    assert NFC != NFD
    assert len(NFC) == 4 and len(NFD) == 5


def test_a_decomposed_name_is_loaded_composed(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", kinesis(NFD) + f"renamedFrom: ['old {NFD}']\n")
    result = load_and_check([path])
    assert result.problems == []
    (loaded,) = result.manifests
    assert loaded.manifest.name == NFC
    assert loaded.manifest.renamedFrom == [f"old {NFC}"]
    assert loaded.manifest.account_key == f"{NFC}-account"


def test_validate_shows_the_composed_name(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", kinesis(NFD))
    code, output = validate("--format", "json", str(path))
    assert code == 0, output
    assert [m["name"] for m in json.loads(output)["manifests"]] == [NFC]


def test_two_manifests_equal_after_normalisation_are_an_error(tmp_path: Path) -> None:
    composed = write(tmp_path / "a-composed.yaml", kinesis(NFC))
    decomposed = write(tmp_path / "b-decomposed.yaml", kinesis(NFD))
    code, output = validate(str(tmp_path))
    assert code == 1, output
    assert (
        f"{decomposed}:2:7: error: dataflow name '{NFC}' is already used by the manifest at "
        f"{composed}:2:7" in output
    )
    assert "1 error(s)" in output


def test_the_error_says_the_names_are_written_differently(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", kinesis(NFC))
    write(tmp_path / "b.yaml", kinesis(NFD))
    problems = load_and_check([tmp_path]).errors
    assert [p.path for p in problems] == ["name"]
    assert "Unicode" in problems[0].message and "NFC" in problems[0].message
    # Names written the same way need no word about Unicode.
    write(tmp_path / "b.yaml", kinesis(NFC))
    (same,) = load_and_check([tmp_path]).errors
    assert "Unicode" not in same.message


def test_two_documents_of_one_file_are_compared_too(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", kinesis(NFD) + "---\n" + kinesis(NFC))
    (problem,) = load_and_check([path]).errors
    assert (problem.location.line, problem.location.column, problem.path) == (14, 7, "name")


def test_an_earlier_name_equal_to_the_current_one_after_normalisation(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", kinesis(NFC) + f"renamedFrom: [{NFD}, 'x', 'x\u0301']\n")
    messages = [p.message for p in load_and_check([path]).errors]
    assert messages == [f"'{NFC}' is this dataflow's current name, not an earlier one"]


def test_earlier_names_listed_twice_after_normalisation(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", kinesis("new") + f"renamedFrom: [{NFC}, {NFD}]\n")
    (problem,) = load_and_check([path]).errors
    assert problem.path == "renamedFrom[1]"
    assert f"earlier name '{NFC}' is listed twice" in problem.message


def test_an_earlier_name_claimed_by_another_manifest_after_normalisation(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", kinesis(NFC))
    write(tmp_path / "b.yaml", kinesis("new") + f"renamedFrom: [{NFD}]\n")
    (problem,) = load_and_check([tmp_path]).errors
    assert problem.message.startswith(f"earlier name '{NFC}' is the name of the manifest at")


def test_accounts_equal_after_normalisation_are_one_account(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", ACCOUNT.format(name="a", account=NFC, region="us-east-1"))
    write(tmp_path / "b.yaml", ACCOUNT.format(name="b", account=NFD, region="us-east-1"))
    result = load_and_check([tmp_path])
    assert result.problems == []
    assert [m.manifest.account_key for m in result.manifests] == [NFC, NFC]
    # One account, so its settings must agree: a second region is a conflict.
    write(tmp_path / "b.yaml", ACCOUNT.format(name="b", account=NFD, region="eu-west-1"))
    (problem,) = load_and_check([tmp_path]).errors
    assert problem.path == "destination.account"
    assert problem.message.startswith(f"account '{NFC}' is shared with the manifest at")


def test_an_account_from_a_variable_is_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml",
        ACCOUNT.format(name="a", account="${var:acct}", region="us-east-1"),
    )
    substituted, problems = substitute_vars(load_paths([path]).manifests, {"acct": NFD}, "dev")
    assert problems == []
    assert [m.manifest.account_key for m in substituted] == [NFC]


@pytest.mark.parametrize("spelling", [NFC, NFD])
def test_a_decomposed_manifest_plans_under_its_composed_name(
    workspace: Workspace, spelling: str
) -> None:
    workspace.write("m.yaml", kinesis(spelling))
    planned = workspace.plan("--format", "json")
    assert planned.code == 0, planned.err
    assert NFC in {change["name"] for change in planned.json["changes"]}
    assert NFD not in json.dumps(planned.json, ensure_ascii=False)
    applied = workspace.apply()
    assert applied.code == 0, applied.err
    assert workspace.flow(NFC)["name"] == NFC
    # Saved again in the other form, the same manifest is the same dataflow.
    workspace.write("m.yaml", kinesis(NFD if spelling == NFC else NFC))
    again = workspace.plan("--format", "json")
    assert again.code == 0, again.err
    assert again.json["changes"] == []
