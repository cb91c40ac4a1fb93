"""What the emulator keeps safe: no secret values on disk, owner-only files, no symbolic
links, admin endpoints behind its credentials, no serving beyond loopback with its public
credentials, and no secret in what it prints."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from provisioner.emulator import EmulatorApp, Store
from provisioner.emulator import server as emulator_server_module
from provisioner.emulator.admin import basic_authorization
from provisioner.emulator.catalog import EVENT_HUBS_AUTH_SPEC, EVENT_HUBS_SPEC_ID
from provisioner.emulator.cli import SECRET_VARIABLE
from provisioner.emulator.cli import emulator as emulator_cli
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from provisioner.emulator.server import EmulatorTransport, is_loopback
from provisioner.emulator.store import StoreFileError
from provisioner.platform.target import check_url
from tests.emulator_support import ADMIN_AUTH, Api, Chain, get_token, kinesis_account

CANARY = "canary-secret-7f3a9c"
ROTATED = "rotated-canary-1b2e4d"
SAS_CANARY = "sas-canary-8d8d"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def file_bytes(db: Path) -> bytes:
    """The main file and its side files, as anyone reading the disk would see them."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


# secrets ---------------------------------------------------------------------------------


def test_secret_values_never_reach_the_file(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    app = EmulatorApp(Store(db))
    with httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator") as client:
        api = Api(client)
        account = api.created("/connections", kinesis_account(secret=CANARY))
        hubs = api.created(
            "/connections",
            {
                "name": "hubs",
                "connectionSpec": {"id": EVENT_HUBS_SPEC_ID, "version": "1.0"},
                "auth": {
                    "specName": EVENT_HUBS_AUTH_SPEC,
                    "params": {"sasKeyName": "send", "sasKey": SAS_CANARY, "namespace": "ns"},
                },
            },
        )
        etag = api.one(f"/connections/{account}")["etag"]
        rotate = [{"op": "replace", "path": "/auth/params/secretKey", "value": ROTATED}]
        assert api.patch(f"/connections/{account}", rotate, etag).status_code == 200
        renamed = [{"op": "replace", "path": "/name", "value": "renamed"}]
        etag = api.one(f"/connections/{hubs}")["etag"]
        assert api.patch(f"/connections/{hubs}", renamed, etag).status_code == 200
        assert api.one(f"/connections/{account}")["auth"]["params"]["secretKey"] == "xxxx"
    stored = app.store.get("connections", "prod", account)
    assert stored is not None
    assert stored["auth"]["params"]["secretKey"] == app.store.secret_digest(ROTATED)
    assert stored["auth"]["params"]["accessKeyId"] == "AKIA"  # not a secret: kept
    stored_hubs = app.store.get("connections", "prod", hubs)
    assert stored_hubs is not None
    # a patch that leaves the secret alone keeps its digest, not a digest of the digest
    assert stored_hubs["auth"]["params"]["sasKey"] == app.store.secret_digest(SAS_CANARY)
    on_disk = file_bytes(db)
    assert app.store.secret_digest(ROTATED).encode() in on_disk
    app.store.close()
    on_disk += file_bytes(db)
    for canary in (CANARY, ROTATED, SAS_CANARY):
        assert canary.encode() not in on_disk


def test_digests_are_keyed_per_file(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    assert first.secret_digest(CANARY) == first.secret_digest(CANARY)
    assert first.secret_digest(CANARY) != second.secret_digest(CANARY)
    assert first.secret_digest(CANARY).startswith("hmac-sha256:")


# files -----------------------------------------------------------------------------------


def test_files_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "work" / ".provisioner"
    db = folder / "emulator.db"
    with umask(0o022):
        store = Store(db)
        store.entries("connections", "prod")
        with store.transaction():
            store.put("connections", "prod", {"id": "x", "name": "x"})
        side_files = [p for p in folder.iterdir() if p.name.startswith("emulator.db-")]
        assert side_files  # WAL mode keeps -wal and -shm beside the file while it is open
        assert {p.name: mode(p) for p in [db, *side_files]} == {
            p.name: 0o600 for p in [db, *side_files]
        }
        store.close()
    assert mode(folder) == 0o700
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"


def test_an_existing_file_is_made_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    Store(db).close()
    assert mode(db) == 0o600


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    elsewhere.write_bytes(b"")
    link = tmp_path / "emulator.db"
    link.symlink_to(elsewhere)
    with pytest.raises(StoreFileError, match="symbolic link"):
        Store(link)
    assert elsewhere.read_bytes() == b""
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "missing.db")
    with pytest.raises(StoreFileError, match="symbolic link"):
        Store(dangling)
    assert not (tmp_path / "missing.db").exists()
    result = CliRunner().invoke(emulator_cli, ["serve", "--port", "0", "--db", str(link)])
    assert result.exit_code == 1
    assert "symbolic link" in result.output and "Traceback" not in result.output


# admin endpoints ---------------------------------------------------------------------------

ADMIN_CALLS: list[tuple[str, str, object]] = [
    ("GET", "/emulator/faults", None),
    ("PUT", "/emulator/faults", {"rate_429": 1.0}),
    ("POST", "/emulator/rules", {"action": "503"}),
    ("GET", "/emulator/stats", None),
    ("POST", "/emulator/stats/reset", None),
    ("POST", "/emulator/edit/flows/FLOW", [{"op": "replace", "path": "/name", "value": "x"}]),
    ("POST", "/emulator/audiences", {"prod": []}),
    ("PUT", "/emulator/audiences/prod/access", {"enabled": False}),
    ("DELETE", "/emulator/audiences/prod", None),
]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token",
        basic_authorization(DEFAULT_CLIENT_ID, "wrong-secret"),
        basic_authorization("someone-else", "emulator-secret"),
        "Basic %%%",
    ],
    ids=["none", "bad-token", "wrong-secret", "unknown-client", "garbled"],
)
def test_admin_endpoints_refuse_without_credentials(
    emulator: EmulatorApp, client: httpx.Client, authorization: str | None
) -> None:
    api = Api(client)
    flow = Chain(api).flow
    headers = {"Authorization": authorization} if authorization else {}
    for method, path, body in ADMIN_CALLS:
        response = client.request(method, path.replace("FLOW", flow), json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert "credentials" in response.json()["error"]
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert emulator.faults.rules == [] and emulator.faults.rate_429 == 0
    assert api.one(f"/flows/{flow}")["name"] == "flow"
    assert emulator.audiences.enabled("prod") and not emulator.audiences.seeded("prod")
    assert client.get("/emulator/health").status_code == 200  # readiness stays open


def test_admin_endpoints_take_a_token_or_the_client_secret(client: httpx.Client) -> None:
    token = get_token(client).json()["access_token"]
    bearer = client.get("/emulator/stats", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert client.get("/emulator/stats", auth=ADMIN_AUTH).status_code == 200
    other = EmulatorApp()  # another emulator's token is no credential here
    with httpx.Client(transport=EmulatorTransport(other), base_url="http://other") as elsewhere:
        foreign = get_token(elsewhere).json()["access_token"]
    refused = client.get("/emulator/stats", headers={"Authorization": f"Bearer {foreign}"})
    assert refused.status_code == 401


# serving beyond loopback -----------------------------------------------------------------

OWN_SECRET = "own-emulator-secret-5b7e21"


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    banner: str

    def stop(self) -> str:
        """Stops the server; its stderr."""
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=10)
        return stderr


def serve_process(*options: str, cwd: Path, env: dict[str, str] | None = None) -> Served:
    command = [sys.executable, "-m", "provisioner", "emulator", "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--db", ":memory:", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(3)]
    return Served(process, banner[0].split("serving on ")[1].split()[0], "".join(banner))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "emulator.example"])
def test_beyond_loopback_the_well_known_credentials_are_refused(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone who reaches the emulator could use its public secret: refused before anything
    is opened or bound."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)

    def never_bound(*_: object, **__: object) -> None:
        raise AssertionError("the emulator bound a socket")  # and would serve until killed

    monkeypatch.setattr(emulator_server_module, "make_server", never_bound)
    for options in ([], ["--client-id", "own-client"]):  # a new id alone is no credential
        result = CliRunner().invoke(emulator_cli, ["serve", "--host", host, *options])
        assert result.exit_code == 1, result.output
        [line] = result.output.splitlines()
        assert f"refusing to listen on {host} with the emulator's well-known credentials" in line
        assert "--client-secret of your own" in line
    assert not (tmp_path / ".provisioner").exists()  # nothing opened


def test_beyond_loopback_own_credentials_serve_with_a_warning(tmp_path: Path) -> None:
    served = serve_process(
        "--host", "0.0.0.0", "--client-id", "own-client", "--client-secret", OWN_SECRET,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        assert served.url.startswith("http://127.0.0.1:")
        assert check_url(served.url, "AEP_PLATFORM_URL") == served.url
        with httpx.Client(base_url=served.url) as client:
            assert client.get("/emulator/health").status_code == 200
            assert client.get("/emulator/stats", auth=("own-client", OWN_SECRET)).status_code == 200
            refused = client.get("/emulator/stats", auth=ADMIN_AUTH)  # the public pair
            assert refused.status_code == 401
    finally:
        stderr = served.stop()
    assert "Warning: listening on 0.0.0.0" in stderr
    assert "reachable from the network" in stderr
    assert OWN_SECRET not in served.banner and OWN_SECRET not in stderr
    assert "AEP_CLIENT_ID=own-client AEP_CLIENT_SECRET=(the --client-secret given)" in (
        served.banner
    )


def test_the_secret_from_the_environment_is_used_and_never_printed(tmp_path: Path) -> None:
    """The variable keeps the secret out of process lists; the banner names no value."""
    served = serve_process(cwd=tmp_path, env={SECRET_VARIABLE: OWN_SECRET})
    try:
        with httpx.Client(base_url=served.url) as client:
            assert get_token(client, OWN_SECRET).status_code == 200
            assert get_token(client).status_code == 401  # the default no longer works
    finally:
        stderr = served.stop()
    assert OWN_SECRET not in served.banner + stderr
    assert "AEP_CLIENT_SECRET=(the --client-secret given)" in served.banner


def test_on_loopback_the_public_default_is_printed_to_connect_with(tmp_path: Path) -> None:
    served = serve_process(cwd=tmp_path, env={SECRET_VARIABLE: ""})
    try:
        assert f"AEP_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}" in served.banner
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("192.168.1.20", False)],
)  # fmt: skip
def test_which_binds_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
