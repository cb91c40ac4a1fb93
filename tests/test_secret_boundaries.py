"""The repository decides what is wanted; the operator decides which secrets it may read.

A manifest comes from anyone's pull request: its `${env:…}` must not reach the CI system's
or the tool's own variables, nor its `${file:…}` anything outside the project or behind a
dot-name (`.git/config` holds tokens), unless the job's environment allows them
(PROVISIONER_ALLOW_ENV, PROVISIONER_ALLOW_FILE_DIRS). A refusal is exit 1 naming the
reference and its line, before any request; `validate` reports the same without secrets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import ProvisionerError
from provisioner.fields.secrets import (
    RESERVED_ENV_NAMES,
    SecretBoundaries,
    SecretRef,
    SecretRefused,
    allowed_env_names,
)
from provisioner.state.desired import DesiredAccount, resolve_account_secrets
from tests.workspace import AUDIENCES, Outcome, Workspace, kinesis

A = AUDIENCES[0]
CANARY = "boundary-canary-3c9f"
ACCESS_AT = "orders.yaml:10:18"  # where kinesis() writes accessKeyId's reference
SECRET_AT = "orders.yaml:11:16"  # and secretKey's


def manifest(access: str = "${env:AWS_KEY_ID}", secret: str = "${env:AWS_SECRET}") -> str:
    text = kinesis("orders", [A])
    return text.replace("${env:AWS_KEY_ID}", access).replace("${env:AWS_SECRET}", secret)


def assert_refused(result: Outcome, where: str, ref: str, ws: Workspace) -> None:
    assert result.code == 1, result.out + result.err
    assert f"{where}: error: {ref} is refused: " in result.err, result.err
    assert CANARY not in result.out + result.err
    assert ws.emulator.requests["total"] == 0  # refused before any request, the token's too


# ${env:…} ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "GITHUB_SHA",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "RUNNER_TEMP",
        "CI",
        "CI_JOB_TOKEN",
        "GITLAB_TOKEN",
        "AEP_CLIENT_SECRET",
        "PROVISIONER_FINGERPRINT_KEY",
        "SYSTEM_ACCESSTOKEN",
    ],
)
def test_a_variable_of_the_ci_system_or_the_tool_is_refused(
    workspace: Workspace, name: str
) -> None:
    ws = workspace
    ws.env[name] = CANARY
    ws.write("orders.yaml", manifest(secret=f"${{env:{name}}}"))

    result = ws.plan()

    assert_refused(result, SECRET_AT, f"${{env:{name}}}", ws)
    assert "PROVISIONER_ALLOW_ENV" in result.err  # says how the operator would allow it


def test_validate_refuses_the_same_without_any_secret(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", manifest(access="${env:GITHUB_TOKEN}"))

    result = ws.run("validate", "manifests")

    assert result.code == 1
    assert f"{ACCESS_AT}: error: ${{env:GITHUB_TOKEN}} is refused: " in result.err


def test_the_operator_allows_a_reserved_name_by_listing_it(workspace: Workspace) -> None:
    ws = workspace
    ws.env.update({"GITHUB_TOKEN": CANARY, "PROVISIONER_ALLOW_ENV": "AWS_*, GITHUB_TOKEN"})
    ws.write("orders.yaml", manifest(access="${env:GITHUB_TOKEN}"))

    assert ws.run("validate", "manifests").code == 0
    result = ws.plan()

    assert result.code == 0, result.err
    assert CANARY not in result.out + result.err


def test_the_allow_list_is_complete_when_set(workspace: Workspace) -> None:
    """Set, it is every name manifests may read: an ordinary name not in it is refused."""
    ws = workspace
    ws.env["PROVISIONER_ALLOW_ENV"] = "AWS_KEY_ID"
    ws.write("orders.yaml", manifest())

    result = ws.plan()

    assert_refused(result, SECRET_AT, "${env:AWS_SECRET}", ws)
    assert "not in PROVISIONER_ALLOW_ENV" in result.err
    assert f"{ACCESS_AT}:" not in result.err


@pytest.mark.parametrize("value", ["*", "AWS_KEY_ID,*", "AWS*SECRET", "*_SECRET", "AWS-KEY"])
def test_a_malformed_allow_list_is_an_error_before_any_request(
    workspace: Workspace, value: str
) -> None:
    ws = workspace
    ws.env["PROVISIONER_ALLOW_ENV"] = value
    ws.write("orders.yaml", manifest())

    result = ws.plan()

    assert result.code == 1
    assert "error: PROVISIONER_ALLOW_ENV: " in result.err
    assert ws.emulator.requests["total"] == 0


def test_allow_list_entries_are_names_or_prefixes_compared_case_sensitively() -> None:
    allowed = allowed_env_names({"PROVISIONER_ALLOW_ENV": " KINESIS_*, GITHUB_TOKEN ,, "})
    assert allowed == ("KINESIS_*", "GITHUB_TOKEN")
    boundaries = SecretBoundaries(Path("/project"), allowed)
    for name in ("KINESIS_SECRET_KEY", "KINESIS_", "GITHUB_TOKEN"):
        boundaries.check_env(name)
    for name in ("kinesis_secret_key", "GITHUB_TOKEN_2", "GITHUB_SHA", "OTHER"):
        with pytest.raises(SecretRefused):
            boundaries.check_env(name)
    assert allowed_env_names({"PROVISIONER_ALLOW_ENV": " "}) is None  # empty: not set


def test_without_an_allow_list_only_the_reserved_names_are_refused() -> None:
    boundaries = SecretBoundaries(Path("/project"))
    for name in ("KINESIS_SECRET_KEY", "CIRCLE_TOKEN", "CIX", "github_token", "MY_GITHUB_TOKEN"):
        boundaries.check_env(name)
    for name in sorted(RESERVED_ENV_NAMES):
        with pytest.raises(SecretRefused):
            boundaries.check_env(name)


# ${file:…} -----------------------------------------------------------------------------


def _put(path: Path, text: str = CANARY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def git_config_above(ws: Workspace, outside: Path) -> str:
    _put(ws.root / ".git" / "config")
    return "${file:../.git/config}"


def git_config_beside(ws: Workspace, outside: Path) -> str:
    _put(ws.root / "manifests" / ".git" / "config")
    return "${file:.git/config}"


def hidden_directory(ws: Workspace, outside: Path) -> str:
    _put(ws.root / "manifests" / "sub" / ".hidden" / "key")
    return "${file:sub/.hidden/key}"


def through_a_dot_name_and_back(ws: Workspace, outside: Path) -> str:
    (ws.root / "manifests" / ".secrets").mkdir()
    _put(ws.root / "manifests" / "key")
    return "${file:.secrets/../key}"


def symlink_out_of_the_project(ws: Workspace, outside: Path) -> str:
    os.symlink(_put(outside / "key"), ws.root / "manifests" / "key")
    return "${file:key}"


def symlinked_directory_out_of_the_project(ws: Workspace, outside: Path) -> str:
    _put(outside / "key")
    os.symlink(outside, ws.root / "manifests" / "vault")
    return "${file:vault/key}"


def symlink_to_a_dot_file_inside(ws: Workspace, outside: Path) -> str:
    os.symlink(_put(ws.root / ".env"), ws.root / "manifests" / "key")
    return "${file:key}"


def absolute_path_outside(ws: Workspace, outside: Path) -> str:
    return f"${{file:{_put(outside / 'key')}}}"


def climbing_out(ws: Workspace, outside: Path) -> str:
    _put(ws.root.parent / f"{ws.root.name}-sibling" / "key")
    return f"${{file:../../{ws.root.name}-sibling/key}}"


FILE_CASES: dict[str, Callable[[Workspace, Path], str]] = {
    "../.git/config": git_config_above,
    ".git/config": git_config_beside,
    "sub/.hidden/key": hidden_directory,
    ".secrets/../key": through_a_dot_name_and_back,
    "symlink out": symlink_out_of_the_project,
    "symlinked directory out": symlinked_directory_out_of_the_project,
    "symlink to a dot-file inside": symlink_to_a_dot_file_inside,
    "absolute path outside": absolute_path_outside,
    "../.. out": climbing_out,
}


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the workspace's project."""
    return tmp_path_factory.mktemp("outside")


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_a_file_outside_the_project_or_behind_a_dot_name_is_refused(
    workspace: Workspace, outside: Path, case: str
) -> None:
    ws = workspace
    ref = FILE_CASES[case](ws, outside)
    ws.write("orders.yaml", manifest(secret=ref))

    result = ws.plan()

    assert_refused(result, SECRET_AT, ref, ws)
    assert "PROVISIONER_ALLOW_FILE_DIRS" in result.err
    validated = ws.run("validate", "manifests")
    assert validated.code == 1
    assert f"{SECRET_AT}: error: {ref} is refused: " in validated.err


def test_the_operator_allows_a_directory_outside_the_project(
    workspace: Workspace, outside: Path
) -> None:
    ws = workspace
    ws.env["PROVISIONER_ALLOW_FILE_DIRS"] = f"/nonexistent, {outside}"
    ws.write("orders.yaml", manifest(secret=symlink_out_of_the_project(ws, outside)))

    result = ws.plan()

    assert result.code == 0, result.err
    assert CANARY not in result.out + result.err


def test_the_operator_allows_a_dot_directory(workspace: Workspace, outside: Path) -> None:
    ws = workspace
    ref = hidden_directory(ws, outside)
    ws.env["PROVISIONER_ALLOW_FILE_DIRS"] = str(ws.root / "manifests" / "sub" / ".hidden")
    ws.write("orders.yaml", manifest(secret=ref))

    assert ws.plan().code == 0


def test_a_relative_allowed_directory_is_an_error(workspace: Workspace) -> None:
    ws = workspace
    ws.env["PROVISIONER_ALLOW_FILE_DIRS"] = "secrets"
    ws.write("orders.yaml", manifest())

    result = ws.plan()

    assert result.code == 1
    assert "error: PROVISIONER_ALLOW_FILE_DIRS: 'secrets' is not an absolute path" in result.err
    assert ws.emulator.requests["total"] == 0


def test_a_file_anywhere_inside_the_project_is_read(workspace: Workspace) -> None:
    """The project is the project file's directory: a manifest below it may read a file
    beside it, and one in a sibling directory, from a working directory anywhere below."""
    ws = workspace
    (ws.root / "provisioner.yaml").write_text("manifests: [manifests/]\n", encoding="utf-8")
    _put(ws.root / "secrets" / "key")
    _put(ws.root / "manifests" / "access-key")
    ws.write("orders.yaml", manifest("${file:access-key}", "${file:../secrets/key}"))
    (ws.root / "ci").mkdir()

    below = Workspace(ws.root / "ci", ws.url, ws.emulator)
    below.env = dict(ws.env)
    result = below.run("plan")

    assert result.code == 0, result.err
    assert below.run("validate").code == 0


def test_without_a_project_file_the_working_directory_is_the_project(
    workspace: Workspace,
) -> None:
    ws = workspace
    _put(ws.root / "secrets" / "key")
    ws.write("orders.yaml", manifest(secret="${file:../secrets/key}"))
    (ws.root / "manifests" / "ci").mkdir()
    below = Workspace(ws.root / "manifests" / "ci", ws.url, ws.emulator)
    below.env = dict(ws.env)

    result = below.run("plan", "..")  # the manifest from a directory below: outside it

    assert_refused(result, SECRET_AT, "${file:../secrets/key}", below)
    assert ws.plan().code == 0


def test_apply_checks_again_when_it_resolves_an_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply resolves an account's secrets from the plan's records: the same boundaries."""
    monkeypatch.chdir(tmp_path)
    _put(tmp_path / ".git" / "config")
    account = DesiredAccount(
        "acc",
        "amazon-kinesis",
        {"region": "us-east-1"},
        {"accessKeyId": SecretRef.parse("${env:GITHUB_TOKEN}")},
        str(tmp_path),
    )
    with pytest.raises(SecretRefused, match="GITHUB_TOKEN is reserved"):
        resolve_account_secrets(account, {"GITHUB_TOKEN": CANARY})
    account.credentials = {"secretKey": SecretRef.parse("${file:.git/config}")}
    with pytest.raises(SecretRefused, match=r"'\.git'"):
        resolve_account_secrets(account, {})


def test_the_allow_lists_are_operator_errors() -> None:
    with pytest.raises(ProvisionerError, match="'\\*' alone"):
        allowed_env_names({"PROVISIONER_ALLOW_ENV": "*"})
