"""`emulator serve --deliver` end to end, over loopback: moto's server mode as the Kinesis
endpoint (selected with the SDK's own AWS_ENDPOINT_URL_KINESIS), the emulator served in its
own process, and the CLI applying a manifest and reading the status in theirs. The records
a run exported are read back from the stream with boto3, unmodified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from tests.check_support import HERMETIC_AWS, MotoKinesis
from tests.emulator_support import ADMIN_AUTH, start_serve_process

AUDIENCES = ["72ddd79b-6b0a-4e97-a8d2-112ccd81bd02", "7841ba61-23c1-4bb3-a495-00d695fe1e93"]
ATTRIBUTES = ["person.name.firstName", "person.name.lastName", "personalEmail.address"]
# Canary values: moto accepts any key while it does not enforce IAM.
KEY_ID = "AKIADELIVERYCANARY01"
SECRET = "delivery-secret-canary-5e1f"
# A meta-path finder that makes the cloud SDKs impossible to import, as when the `check`
# extra is not installed.
WITHOUT_SDKS = (
    "import sys\n"
    "class Hidden:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('boto3', 'botocore', 'azure'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Hidden())\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[MotoKinesis]:
    moto = MotoKinesis()
    yield moto
    moto.stop()


@pytest.fixture
def moto(server: MotoKinesis, monkeypatch: pytest.MonkeyPatch) -> MotoKinesis:
    """The moto server, emptied; the emulator's process finds it by the SDK's variable."""
    server.reset()
    for name, value in HERMETIC_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", server.url)
    return server


class Served:
    """`provisioner emulator serve` in its own process, on a data file in `root`."""

    def __init__(self, root: Path, *options: str) -> None:
        self.db = root / "emulator.db"
        self.process, self.url = start_serve_process("--db", str(self.db), *options, cwd=root)

    def stored(self) -> bytes:
        """Every byte of its data on disk: the file and SQLite's side files (-wal, -shm)."""
        return b"".join(path.read_bytes() for path in self.db.parent.glob(f"{self.db.name}*"))

    def stop(self) -> str:
        """Stop it; everything it printed after its first line."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out

    def advance(self) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/emulator/advance", json={"hours": 1}, auth=ADMIN_AUTH, timeout=60
        )
        assert answer.status_code == 200, answer.text
        (run,) = answer.json()["runs"]
        return dict(run)

    def exported(self, flow_id: str) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.url}/emulator/exports", params={"flowId": flow_id}, auth=ADMIN_AUTH
        )
        assert answer.status_code == 200, answer.text
        records: list[dict[str, Any]] = answer.json()["records"]
        return records


@pytest.fixture
def served(moto: MotoKinesis, tmp_path: Path) -> Iterator[Served]:
    emulator = Served(tmp_path, "--deliver")
    yield emulator
    emulator.stop()


def manifest(stream: str) -> str:
    lines = [
        "version: 1",
        "name: summer-campaign",
        "destination:",
        "  type: amazon-kinesis",
        "  region: us-east-1",
        f"  stream: {stream}",
        "  credentials:",
        "    accessKeyId: ${env:KINESIS_ACCESS_KEY_ID}",
        "    secretKey: ${env:KINESIS_SECRET_KEY}",
        "audiences:",
        *(f"  - {audience}" for audience in AUDIENCES),
        "attributes:",
        *(f"  - {attribute}" for attribute in ATTRIBUTES),
    ]
    return "\n".join(lines) + "\n"


def provisioner(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`provisioner ARGS` as a user runs it, pointed at the served emulator."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AEP_") and k != "CI"},
        "AEP_PLATFORM_URL": url,
        "AEP_IMS_URL": url,
        "AEP_CLIENT_ID": DEFAULT_CLIENT_ID,
        "AEP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "AEP_ORG_ID": DEFAULT_ORG,
        "KINESIS_ACCESS_KEY_ID": KEY_ID,
        "KINESIS_SECRET_KEY": SECRET,
    }
    command = [sys.executable, "-m", "provisioner", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def applied(root: Path, url: str, stream: str) -> str:
    """Apply the two-audience, three-attribute manifest; the dataflow's id."""
    (root / "manifests").mkdir(exist_ok=True)
    (root / "manifests" / "summer.yaml").write_text(manifest(stream), encoding="utf-8")
    done = provisioner(root, url, "apply", "manifests", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    flows = httpx.get(
        f"{url}/data/foundation/flowservice/flows",
        headers=_platform_headers(url),
    ).json()["items"]
    (flow,) = flows
    return str(flow["id"])


def _platform_headers(url: str) -> dict[str, str]:
    token = httpx.post(
        f"{url}/ims/token/v3",
        data={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "grant_type": "client_credentials",
            "scope": "openid,AdobeID",
        },
    ).json()["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": DEFAULT_CLIENT_ID,
        "x-gw-ims-org-id": DEFAULT_ORG,
        "x-sandbox-name": "prod",
    }


def _paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted paths of the leaves under `node`."""
    found: set[str] = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        found |= _paths(value, f"{path}.") if isinstance(value, dict) else {path}
    return found


def _exported_shape(record: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The attributes and audiences of one record, checked to be in the exported shape:
    mapped attributes at their XDM paths, realized memberships, an ECID."""
    assert set(record) <= {"person", "personalEmail", "segmentMembership", "identityMap"}
    held = _paths({k: v for k, v in record.items() if k in ("person", "personalEmail")})
    assert held and held <= set(ATTRIBUTES)
    ups = record["segmentMembership"]["ups"]
    assert ups and set(ups) <= set(AUDIENCES)
    assert {m["status"] for m in ups.values()} == {"realized"}
    assert all(m["lastQualificationTime"] for m in ups.values())
    assert record["identityMap"]["ecid"][0]["id"]
    return held, set(ups)


def test_a_run_lands_in_the_stream_in_the_exported_shape(
    served: Served, moto: MotoKinesis, tmp_path: Path
) -> None:
    moto.create_stream("summer-campaign")
    flow_id = applied(tmp_path, served.url, "summer-campaign")

    run = served.advance()

    assert run["status"] == "success" and run["activated"] > 0
    delivered = [json.loads(data) for data in moto.records("summer-campaign")]
    assert len(delivered) == run["activated"]
    assert sorted(delivered, key=json.dumps) == sorted(served.exported(flow_id), key=json.dumps)
    attributes: set[str] = set()
    memberships: set[str] = set()
    for record in delivered:
        held, audiences = _exported_shape(record)
        attributes |= held
        memberships |= audiences
    assert attributes == set(ATTRIBUTES)
    assert memberships == set(AUDIENCES)
    log = served.stop()
    assert f"{len(delivered)} record(s) delivered to stream summer-campaign" in log
    assert SECRET not in log
    assert SECRET.encode() not in served.stored()


def test_a_missing_stream_fails_the_run_and_status_says_so(
    served: Served, moto: MotoKinesis, tmp_path: Path
) -> None:
    applied(tmp_path, served.url, "no-such-stream")

    run = served.advance()

    assert run["status"] == "failed" and run["activated"] == 0 and run["failed"] > 0
    status = provisioner(tmp_path, served.url, "status", "manifests")
    assert status.returncode == 2, status.stdout + status.stderr
    assert "CONNECTOR-1001-500" in status.stdout
    assert "no-such-stream" in status.stdout
    log = served.stop()
    assert "no stream no-such-stream in us-east-1" in log
    assert SECRET not in log + status.stdout + status.stderr
    assert SECRET.encode() not in served.stored()


def test_a_rejected_key_fails_the_run_as_a_refused_credential(
    served: Served, moto: MotoKinesis, tmp_path: Path
) -> None:
    moto.create_stream("summer-campaign")
    applied(tmp_path, served.url, "summer-campaign")

    with moto.enforcing_iam():  # moto's IAM has no user with these keys
        run = served.advance()

    assert run["status"] == "failed"
    assert moto.records("summer-campaign") == []
    status = provisioner(tmp_path, served.url, "status", "manifests")
    assert status.returncode == 2, status.stdout + status.stderr
    assert "rejected the connection's credentials" in status.stdout
    log = served.stop()
    assert "the access key id is not accepted in us-east-1" in log
    assert SECRET not in log


def test_an_account_made_before_the_emulator_started_is_not_delivered_to(
    moto: MotoKinesis, tmp_path: Path
) -> None:
    """The data file keeps digests only: an emulator started on it has no secret key to
    sign with, says so, and the run is recorded as the emulator records any run."""
    moto.create_stream("summer-campaign")
    first = Served(tmp_path)
    applied(tmp_path, first.url, "summer-campaign")
    first.stop()
    again = Served(tmp_path, "--deliver")
    try:
        run = again.advance()
    finally:
        log = again.stop()
    assert run["status"] == "success"
    assert moto.records("summer-campaign") == []
    assert "not delivered" in log and "has not received the secret key" in log
    assert SECRET not in log


def test_deliver_needs_the_check_extra(tmp_path: Path) -> None:
    code = WITHOUT_SDKS + (
        "from provisioner.cli import main\n"
        "main(['emulator', 'serve', '--deliver', '--port', '0', '--db', 'e.db'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip install 'provisioner[check]'" in done.stderr
    assert "serving on" not in done.stdout
    assert not (tmp_path / "e.db").exists()  # refused before anything was opened
