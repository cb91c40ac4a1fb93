"""Hostile inputs end in one error line and exit 1, in bounded time and memory.

The cases that could hang or exhaust memory if a bound broke (aliases, nesting, size, FIFOs,
devices) run the real CLI (`python -m provisioner validate ...`) in their own process, with
a timeout (a hang fails the test instead of hanging CI), an address-space limit (a runaway
allocation fails fast instead of swapping) and their peak RSS measured by wait4; they run
concurrently. The others, which can only fail, run in-process through click's runner.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from tests.test_manifest import KINESIS

TIME_LIMIT_S = 10.0  # the contract's bound for a refused manifest
RSS_LIMIT_MIB = 300.0  # the contract's bound
ADDRESS_SPACE_LIMIT = 2 * 1024**3  # a guard, far above what a refusal needs
# The environment of every run: /dev is allowed so that a reference to /dev/zero reaches the
# bounded read (outside the project, it would be refused before any read).
RUN_ENV = {"AWS_KEY_ID": "AKIAEXAMPLE", "PROVISIONER_ALLOW_FILE_DIRS": "/dev"}
NO_MANIFEST = "holds no manifest: the file is empty, or has only comments, '---' or null"


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    max_rss_mib: float
    timed_out: bool

    def error_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if ": error: " in line]


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_cli(args: list[str], cwd: Path) -> Run:
    """`provisioner ARGS` in a child process, killed after TIME_LIMIT_S."""
    env = {**os.environ, **RUN_ENV}
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "provisioner", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_address_space,
        )
        deadline = time.monotonic() + TIME_LIMIT_S
        timed_out = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return Run(child.returncode, text, usage.ru_maxrss / 1024, timed_out)


def billion_laughs(folder: Path) -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    (folder / "laughs.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_files(folder: Path) -> None:
    billion_laughs(folder)
    (folder / "brackets.yaml").write_text("[" * 100_000 + "\n", encoding="utf-8")
    (folder / "block.yaml").write_text(
        "".join("  " * depth + f"k{depth}:\n" for depth in range(200)), encoding="utf-8"
    )
    with (folder / "huge.yaml").open("wb") as sparse:
        sparse.truncate(50 * 1024 * 1024)  # 50 MiB that the tool must not even read
    for name, text in {
        "empty.yaml": "",
        "comments.yaml": "# only\n# comments\n",
        "dashes.yaml": "---\n",
        "null.yaml": "null\n",
    }.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "latin1.yaml").write_bytes(KINESIS.format(name="caf\xe9").encode("latin-1"))
    os.mkfifo(folder / "pipe.yaml")
    os.symlink("loop-b.yaml", folder / "loop-a.yaml")
    os.symlink("loop-a.yaml", folder / "loop-b.yaml")
    _write_secret_targets(folder)


SECRET_TARGETS: dict[str, str] = {
    "fifo": "secret-pipe",
    "device": "/dev/zero",
    "directory": "secret-folder",
    "big": "secret-big",
    "not-utf8": "secret-latin1",
    "symlink-loop": "secret-loop",
    "symlink-to-fifo": "secret-link",
}


def _write_secret_targets(folder: Path) -> None:
    os.mkfifo(folder / "secret-pipe")
    (folder / "secret-folder").mkdir()
    (folder / "secret-big").write_bytes(b"k" * (64 * 1024 + 1))
    (folder / "secret-latin1").write_bytes("s\xe9cret".encode("latin-1"))
    os.symlink("secret-loop", folder / "secret-loop")
    os.symlink("secret-pipe", folder / "secret-link")
    for case, target in SECRET_TARGETS.items():
        text = KINESIS.format(name=case).replace("${file:aws-secret}", f"${{file:{target}}}")
        (folder / f"secret-{case}.yaml").write_text(text, encoding="utf-8")


def secret_message(case: str, reason: str) -> str:
    target = SECRET_TARGETS[case]  # relative to the manifest, as given: the working folder
    return (
        f"secret-{case}.yaml:9:16: error: cannot resolve ${{file:{target}}}: secret file "
        f"{target} {reason} (at destination.credentials.secretKey)"
    )


MANIFEST_CASES: dict[str, tuple[list[str], str]] = {
    "billion-laughs": (
        ["laughs.yaml"],
        "laughs.yaml:5:8: error: YAML aliases expand past 10,000 nodes",
    ),
    "100000-brackets": (
        ["brackets.yaml"],
        "brackets.yaml:1:65: error: nested deeper than 64 levels",
    ),
    "deep-block-mappings": (
        ["block.yaml"],
        "block.yaml:65:129: error: nested deeper than 64 levels",
    ),
    "over-5-mib": (
        ["huge.yaml"],
        "huge.yaml: error: the file is 52,428,800 bytes, over the limit of 5 MiB "
        "for a manifest file",
    ),
    "fifo": (
        ["pipe.yaml"],
        "pipe.yaml: error: the file is a FIFO (named pipe), not a regular file",
    ),
    "device": (
        ["/dev/zero"],
        "/dev/zero: error: the file is a character device, not a regular file",
    ),
    "symlink-loop": (
        ["loop-a.yaml"],
        "loop-a.yaml: error: the file cannot be read (Too many levels of symbolic links)",
    ),
    "not-utf8": (
        ["latin1.yaml"],
        "latin1.yaml: error: the file is not valid UTF-8 (byte 0xe9 at offset 20)",
    ),
    "empty": (["empty.yaml"], f"empty.yaml: error: {NO_MANIFEST}"),
    "only-comments": (["comments.yaml"], f"comments.yaml: error: {NO_MANIFEST}"),
    "only-dashes": (["dashes.yaml"], f"dashes.yaml: error: {NO_MANIFEST}"),
    "only-null": (["null.yaml"], f"null.yaml: error: {NO_MANIFEST}"),
}

SECRET_CASES: dict[str, str] = {
    "fifo": "is a FIFO (named pipe), not a regular file",
    "device": "is a character device, not a regular file",
    "directory": "is a directory, not a regular file",
    "big": "is 65,537 bytes, over the limit of 64 KiB",
    "not-utf8": "is not valid UTF-8 (byte 0xe9 at offset 1)",
    "symlink-loop": "cannot be read (Too many levels of symbolic links)",
    "symlink-to-fifo": "is a FIFO (named pipe), not a regular file",
}


# Cases that would hang or grow without their bound; each costs a CLI start-up (~0.7 s).
IN_A_PROCESS = {
    "billion-laughs",
    "100000-brackets",
    "deep-block-mappings",
    "over-5-mib",
    "fifo",
    "device",
    "secret-fifo",
    "secret-device",
    "secret-symlink-to-fifo",
}


def _all_cases() -> dict[str, list[str]]:
    cases = {name: ["validate", *args] for name, (args, _) in MANIFEST_CASES.items()}
    for case in SECRET_CASES:
        cases[f"secret-{case}"] = ["validate", "--resolve-secrets", f"secret-{case}.yaml"]
    return cases


def _run_in_process(args: list[str], folder: Path) -> Run:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, args, env=RUN_ENV)
    finally:
        os.chdir(previous)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return Run(result.exit_code, result.output, 0.0, False)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every case run once; those in their own process all at the same time."""
    folder = tmp_path_factory.mktemp("hostile")
    write_files(folder)
    cases = _all_cases()
    isolated = [name for name in cases if name in IN_A_PROCESS]
    with ThreadPoolExecutor(max_workers=len(isolated)) as pool:
        outcomes = pool.map(lambda name: run_cli(cases[name], folder), isolated)
        runs = dict(zip(isolated, outcomes, strict=True))
    for name, args in cases.items():
        if name not in runs:
            runs[name] = _run_in_process(args, folder)
    return runs


def _check(run: Run, expected: str) -> None:
    assert not run.timed_out, f"still running after {TIME_LIMIT_S} s"
    assert run.exit_code == 1, run.output
    assert "Traceback" not in run.output
    assert run.error_lines() == [expected]
    assert run.max_rss_mib < RSS_LIMIT_MIB


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
def test_a_hostile_manifest_is_refused_in_one_line(case: str, hostile: dict[str, Run]) -> None:
    _check(hostile[case], MANIFEST_CASES[case][1])


@pytest.mark.parametrize("case", list(SECRET_CASES))
def test_a_secret_file_that_is_not_a_small_text_file_is_refused(
    case: str, hostile: dict[str, Run]
) -> None:
    _check(hostile[f"secret-{case}"], secret_message(case, SECRET_CASES[case]))


def test_a_manifest_of_exactly_5_mib_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the project its `${file:}` reference stays in
    manifest = KINESIS.format(name="padded")
    padding = 5 * 1024 * 1024 - len(manifest)
    comment_lines = "#" * 99 + "\n"
    text = comment_lines * (padding // 100) + "#" * (padding % 100 - 1) + "\n" + manifest
    assert len(text.encode()) == 5 * 1024 * 1024
    (tmp_path / "padded.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "padded.yaml")])
    assert result.exit_code == 0, result.output


def test_a_fifo_or_empty_file_found_in_a_folder_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the project its `${file:}` reference stays in
    (tmp_path / "ok.yaml").write_text(KINESIS.format(name="ok"), encoding="utf-8")
    (tmp_path / "zero.yaml").write_text("", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.yml")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert errors == [
        f"{tmp_path / 'pipe.yml'}: error: the file is a FIFO (named pipe), not a regular file",
        f"{tmp_path / 'zero.yaml'}: error: {NO_MANIFEST}",
    ]


def test_dot_directories_are_not_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the project its `${file:}` reference stays in
    (tmp_path / "ok.yaml").write_text(KINESIS.format(name="ok"), encoding="utf-8")
    for hidden in (".git", ".venv/lib", "deploy/.cache"):
        (tmp_path / hidden).mkdir(parents=True)
        (tmp_path / hidden / "broken.yaml").write_text("[", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 manifest(s) in 1 file(s)" in result.output


def test_prune_with_an_empty_manifest_file_plans_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zero.yaml").write_text("---\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["plan", "--emulator", "--prune", "zero.yaml"])
    assert result.exit_code == 1
    assert f"zero.yaml: error: {NO_MANIFEST}" in result.output
    assert "delete" not in result.output


def test_a_file_of_many_bad_documents_stops_at_200_problems(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text("---\n{}\n" * 1000, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "many.yaml")])
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert result.exit_code == 1
    assert len(errors) == 202  # 3 per document, until 200 are reached, then one notice
    assert errors[-1].endswith("more problems not shown: stopped at document 68 of 1000")


def test_a_secret_reaching_out_of_the_project_is_refused_before_it_is_opened(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link to a FIFO (or a device) outside the project is never opened: refused by where
    it leads, whatever it is."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.mkfifo(elsewhere / "pipe")
    os.symlink(elsewhere / "pipe", tmp_path / "link")
    os.symlink("/dev/zero", tmp_path / "zero")
    monkeypatch.chdir(tmp_path)
    text = KINESIS.format(name="a").replace("${file:aws-secret}", "${file:link}")
    text += "---\n" + KINESIS.format(name="b").replace("${file:aws-secret}", "${file:zero}")
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")

    result = CliRunner().invoke(
        cli, ["validate", "--resolve-secrets", "m.yaml"], env={"AWS_KEY_ID": "AKIAEXAMPLE"}
    )

    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert result.exit_code == 1
    assert [line.split(": error: ")[1].split(" is refused: ")[0] for line in errors] == [
        "${file:link}",
        "${file:zero}",
    ]
    assert all("(through a symbolic link), outside the project" in line for line in errors)
