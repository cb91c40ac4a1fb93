"""`provisioner emulator serve` as a user runs it: a real process on a loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from provisioner.emulator.cli import emulator as emulator_cli
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


def test_serve_help_sets_the_resilience_tools_apart() -> None:
    """Faults, latency and the quota are tools for testing a pipeline, not what every user
    of the emulator needs: `--help` lists them in a section of their own, last."""
    result = CliRunner().invoke(emulator_cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    everyday, _, rest = result.output.partition("\nOptions:\n")
    everyday, _, variants = rest.partition("\nWhere Adobe's documents disagree:\n")
    variants, _, resilience = variants.partition("\nOptions for testing a pipeline's resilience:\n")
    for option in ("--host", "--port", "--db", "--sandbox", "--audiences", "--run-every"):
        assert option in everyday
    for option in ("--patch-status", "--delete-status", "--strict", "--unknown-sandbox"):
        assert option in variants
    for option in (
        "--latency-ms",
        "--rate-429",
        "--retry-after",
        "--rate-5xx",
        "--lose-create-rate",
        "--seed",
        "--quota-rps",
        "--quota-burst",
    ):
        assert option in resilience and option not in everyday + variants


def test_a_burst_without_a_rate_is_refused() -> None:
    result = CliRunner().invoke(emulator_cli, ["serve", "--quota-burst", "5"])
    assert result.exit_code == 2
    assert "--quota-burst needs --quota-rps" in result.output


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
