"""Loading manifests holds Python's cyclic garbage collector off (what a load makes stays
alive: collections would only walk it again) and gives it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.manifest import load as load_module
from provisioner.manifest.load import collector_paused, load_paths

MANIFEST = """\
version: 1
name: orders
destination:
  type: amazon-kinesis
  region: us-east-1
  stream: orders
  credentials:
    accessKeyId: ${env:KEY_ID}
    secretKey: ${env:SECRET}
"""


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


def test_a_load_runs_with_the_collector_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector_on: None
) -> None:
    (tmp_path / "orders.yaml").write_text(MANIFEST)
    seen: list[bool] = []
    real = load_module._load_file

    def spying(file: Path, result: load_module.LoadResult) -> None:
        seen.append(gc.isenabled())
        real(file, result)

    monkeypatch.setattr(load_module, "_load_file", spying)
    result = load_paths([tmp_path])
    assert [m.manifest.name for m in result.manifests] == ["orders"]
    assert seen == [False]
    assert gc.isenabled()


def test_the_collector_comes_back_after_an_error(collector_on: None) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("stop")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert not gc.isenabled()
