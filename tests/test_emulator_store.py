"""Storage: a file that outlives the process, shared safely by threads and processes."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from provisioner.emulator import EmulatorApp, Store
from provisioner.emulator.server import serving
from tests.emulator_support import Api, kinesis_account


def test_file_store_persists_across_instances(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    first = EmulatorApp(Store(db))
    with serving(first) as url, httpx.Client(base_url=url) as client:
        account = Api(client).created("/connections", kinesis_account())
    first.store.close()
    second = EmulatorApp(Store(db))
    with serving(second) as url, httpx.Client(base_url=url) as client:
        # a token from the first instance is still valid: the signing key lives in the file
        assert Api(client).one(f"/connections/{account}")["name"] == "kinesis account"


def test_concurrent_creates_over_http_are_all_kept(tmp_path: Path) -> None:
    app = EmulatorApp(Store(tmp_path / "emulator.db"))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        api = Api(client)

        def create(i: int) -> tuple[str, str]:
            response = api.post("/connections", json=kinesis_account(name=f"account {i}"))
            assert response.status_code == 201
            return response.json()["id"], response.json()["etag"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(120)))
        listed = api.get("/connections", params={"count": "true"}).json()["count"]
    assert len({i for i, _ in created}) == len({e for _, e in created}) == listed == 120


def test_writes_from_another_process_are_seen(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    store = Store(db)
    assert store.entries("connections", "prod") == []  # warms the cache
    script = (
        "import sys; from provisioner.emulator import Store; "
        "from provisioner.emulator.resources import Caller, Resources; "
        "from tests.emulator_support import kinesis_account; "
        "Resources(Store(sys.argv[1])).create('connections', Caller('c', 'o', 'prod'), "
        "kinesis_account())"
    )
    root = Path(__file__).parent.parent
    subprocess.run([sys.executable, "-c", script, str(db)], check=True, cwd=root)
    assert len(store.entries("connections", "prod")) == 1
