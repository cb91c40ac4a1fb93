"""A hostile or broken platform, and odd configuration, through the real CLI.

Every case runs `provisioner plan` as a process with a timeout and must end the same way:
exit 1, one line on stderr, in bounded time, never an internal error (exit 3) and never a
secret. The cases run concurrently (they are independent processes) to keep the suite fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.hostile_server import HostileServer, hostile_server
from tests.workspace import SECRETS, kinesis

ROOT = Path(__file__).parent.parent
CANARY_SECRET = "canary-client-secret-hostile-4e1f"
CANARY_TOKEN = "canary-access-token-hostile-93bd"
PROCESS_TIMEOUT = 60  # seconds; a hang fails the test instead of the suite


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    platform: str = "ok"  # the hostile server's mode for the platform (None: no URL)
    ims: str = "ims-ok"
    expect: str = ""  # a phrase the one error line must contain


CASES: dict[str, Case] = {
    "paging loop": Case(platform="loop", expect="paging repeats itself"),
    "trickle": Case(platform="trickle", expect="no complete answer within 2 s"),
    "huge Content-Length": Case(platform="flood-length", expect="larger than 64 MiB"),
    # time enough to receive 64 MiB on a busy machine: the cap, not the deadline, must stop it
    "huge body": Case(
        platform="flood-body", env={"PROVISIONER_REQUEST_DEADLINE": "60"}, expect="64 MiB"
    ),
    "HTML instead of JSON": Case(platform="html", expect="answered 200 with a body that is not"),
    "object without id": Case(platform="no-id", expect="an object without an id"),
    "items a string": Case(platform="items-string", expect="no list of items"),
    "item a number": Case(platform="item-number", expect="an item that is not an object"),
    "escape codes in an error": Case(
        platform="ansi-error", expect="bad [31mred [0m request second line third"
    ),
    "IMS answers HTML": Case(ims="ims-html", expect="get an access token: POST"),
    "IMS answers no token": Case(ims="ims-empty", expect="no access_token"),
    "IMS answers a list": Case(ims="ims-list", expect="not a JSON object"),
    "IMS token with a newline": Case(ims="ims-newline", expect="cannot be sent in a header"),
    "IMS token without lifetime": Case(ims="ims-no-expiry", expect="no usable expires_in"),
    "token with a control character": Case(
        env={"AEP_ACCESS_TOKEN": CANARY_TOKEN + "\x01"}, expect="AEP_ACCESS_TOKEN contains a"
    ),
    "client id with a newline inside": Case(
        env={"AEP_CLIENT_ID": "client\nid"}, expect="AEP_CLIENT_ID contains a control"
    ),
    "secret with a control character": Case(
        env={"AEP_CLIENT_SECRET": CANARY_SECRET + "\x1b"}, expect="AEP_CLIENT_SECRET contains"
    ),
    "sandbox empty": Case(args=("--sandbox", ""), expect="--sandbox is empty"),
    "sandbox blank": Case(args=("--sandbox", " "), expect="--sandbox is empty"),
    "sandbox not ASCII": Case(args=("--sandbox", "ünï"), expect="is not a sandbox name"),
    "sandbox uppercase": Case(args=("--sandbox", "PROD"), expect="sandbox names are lowercase"),
    "AEP_SANDBOX empty": Case(env={"AEP_SANDBOX": ""}, expect="AEP_SANDBOX is empty"),
    "password in the URL": Case(platform="userinfo", expect="has a user or password in it"),
    "plain http elsewhere": Case(platform="remote", expect="only loopback addresses"),
    "bad port": Case(platform="bad-port", expect="AEP_PLATFORM_URL is not a valid URL"),
    "bad deadline": Case(env={"PROVISIONER_REQUEST_DEADLINE": "soon"}, expect="above 0"),
}
# Refused before any request reaches the platform.
REFUSED_UP_FRONT = {name for name in CASES if "sandbox" in name.lower()} | {
    "token with a control character",
    "client id with a newline inside",
}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def base_env(tmp: Path) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AEP_", "PROVISIONER_")) and k not in ("CI", "NO_COLOR")
    }
    return {**kept, **SECRETS, "XDG_STATE_HOME": str(tmp / "state")}


def case_env(case: Case, server: HostileServer, tmp: Path) -> dict[str, str]:
    urls = {
        "userinfo": server.url.replace("://", "://deployer:hunter2-url-password@") + "/ok",
        "remote": "http://platform.example",
        "bad-port": "http://127.0.0.1:99999",
    }
    env = base_env(tmp) | {
        "AEP_PLATFORM_URL": urls.get(case.platform, f"{server.url}/{case.platform}"),
        "AEP_IMS_URL": f"{server.url}/{case.ims}",
        "AEP_CLIENT_ID": "hostile-client",
        "AEP_CLIENT_SECRET": CANARY_SECRET,
        "AEP_ORG_ID": "HOSTILE@AdobeOrg",
        "PROVISIONER_REQUEST_DEADLINE": "2",
    }
    return env | case.env


def run_plan(folder: Path, env: dict[str, str], *args: str) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "plan", "manifests", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.fixture(scope="module")
def results(server: HostileServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every case run at once, each in its own folder with one manifest."""

    # Folders are made here, not in the threads: pytest's temporary root is made on first use
    # and is not safe to make from several threads at once.
    folders = {name: tmp_path_factory.mktemp("hostile") for name in CASES}

    def run(name: str) -> Result:
        folder = folders[name]
        (folder / "manifests").mkdir()
        (folder / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
        case = CASES[name]
        return run_plan(folder, case_env(case, server, folder), *case.args)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_ends_with_exit_1_and_one_line(name: str, results: dict[str, Result]) -> None:
    result = results[name]
    assert result.code == 1, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert CASES[name].expect in lines[0]
    for secret in (CANARY_SECRET, CANARY_TOKEN, "hunter2-url-password"):
        assert secret not in result.err and secret not in result.out


def test_refusals_up_front_send_nothing(server: HostileServer, results: dict[str, Result]) -> None:
    assert all(results[name].code == 1 for name in REFUSED_UP_FRONT)
    # Those cases point at the "ok" platform, which no other case reaches.
    assert server.requests["ok"] == 0


def test_a_trailing_newline_on_a_token_is_stripped(server: HostileServer, tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    env = case_env(Case(platform="fine", ims="ims-spare"), server, tmp_path)
    env["AEP_ACCESS_TOKEN"] = CANARY_TOKEN + "\n"  # as a secret store often leaves it
    env["AEP_SANDBOX"] = " dev\n"
    result = run_plan(tmp_path, env)
    assert result.code == 0, result.err
    assert "sandbox dev" in result.out and "to create" in result.out
    assert server.requests["ims-spare"] == 0  # the given token was used as it is
    # the list calls of a plan: dataflows and targets per destination type, accounts, source
    assert server.requests["fine"] == 6


@pytest.mark.parametrize("value", ["false", "0", "", "FALSE"])
def test_ci_false_is_not_ci(value: str, tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    result = run_plan(tmp_path, base_env(tmp_path) | {"CI": value})
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "Using the embedded emulator at .provisioner/emulator.db "
        "(no AEP credentials or platform URL set)"
    ]


def test_ci_set_without_a_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "orders.yaml").write_text(kinesis("orders"), encoding="utf-8")
    result = run_plan(tmp_path, base_env(tmp_path) | {"CI": "true"})
    assert result.code == 1
    assert "CI is set" in result.err and len(result.err.splitlines()) == 1
