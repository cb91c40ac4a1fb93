"""Every broken manifest gives exactly its expected diagnostics, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli

BROKEN = Path(__file__).parent / "manifests" / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    prefix = "# expect: "
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path.name}:{line[len(prefix) :]}" for line in lines if line.startswith(prefix)]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert all(expected_lines(case) for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_manifest_reports_exact_problems(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BROKEN)
    result = CliRunner().invoke(cli, ["validate", case.name])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    reported = [line for line in result.output.splitlines() if ": error: " in line]
    assert reported == expected_lines(case)
    assert "Traceback" not in result.output


def test_all_broken_manifests_at_once_report_every_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(BROKEN)
    result = CliRunner().invoke(cli, ["validate", "."])

    def where(line: str) -> str:
        return line.removeprefix("./").split(": error: ")[0]

    reported = {where(line) for line in result.output.splitlines() if ": error: " in line}
    # Run together, a repeated name may point at another file, so compare locations.
    assert {where(line) for case in CASES for line in expected_lines(case)} <= reported
    assert result.exit_code == 1


def test_a_literal_secret_is_never_echoed() -> None:
    result = CliRunner().invoke(cli, ["validate", str(BROKEN / "literal-secret.yaml")])
    assert "wJalrXUtnFEMI" not in result.output
    assert "${env:NAME}" in result.output
