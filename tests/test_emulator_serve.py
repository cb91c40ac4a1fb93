"""`provisioner emulator serve` as a user runs it: a real process on a loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.emulator_support import Api, Chain, start_serve_process


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[str, str]]:
    process, url = start_serve_process(
        "--db",
        str(tmp_path / "e.db"),
        "--patch-status",
        "202",
        "--delete-status",
        "204",
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        yield url, process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_prints_how_to_connect_and_serves(serve_process: tuple[str, str]) -> None:
    url, banner = serve_process
    assert url.startswith("http://127.0.0.1:")
    assert f"AEP_PLATFORM_URL={url}" in banner
    with httpx.Client(base_url=url) as client:
        api = Api(client)
        chain = Chain(api)
        etag = api.one(f"/flows/{chain.flow}")["etag"]
        patched = api.patch(
            f"/flows/{chain.flow}", [{"op": "replace", "path": "/name", "value": "n"}], etag
        )
        assert (patched.status_code, patched.content) == (202, b"")
        assert api.delete(f"/flows/{chain.flow}").status_code == 204


def test_serve_help_lists_the_variants() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "provisioner", "emulator", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in (
        "--patch-status",
        "--delete-status",
        "--latency-ms",
        "--rate-429",
        "--lose-create-rate",
        "--db",
        "--audiences",
        "--audiences-disabled",
    ):
        assert option in result.stdout


def test_a_port_in_use_is_a_clear_error(serve_process: tuple[str, str]) -> None:
    url, _ = serve_process
    port = url.rsplit(":", 1)[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioner",
            "emulator",
            "serve",
            "--port",
            port,
            "--db",
            ":memory:",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
