"""`plan --check-destinations`: the plan as ever, and each destination asked (as `check`
asks it) while the platform is read; a destination that is not reachable fails the job
after the plan is shown and saved. The embedded emulator is the platform, moto's Kinesis
server on loopback the destination."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.check_support import MotoKinesis, kinesis_manifest, run, write

PLAN = ("plan", "manifests", "--emulator", "--check-destinations")


@pytest.fixture(scope="module")
def server() -> Iterator[MotoKinesis]:
    moto = MotoKinesis()
    yield moto
    moto.stop()


@pytest.fixture
def moto(server: MotoKinesis) -> MotoKinesis:
    server.reset()
    server.create_stream("orders")
    return server


def test_reachable_destinations_follow_the_plan_and_exit_as_the_plan_does(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("orders-a", "orders"))
    ran = run(tmp_path, *PLAN, "--detailed-exitcode", endpoint=moto.url)
    assert ran.code == 2, ran.err  # a create to make, every destination reachable
    plan_text, check_text = ran.out.split("Checking 1 destination(s)", 1)
    assert "+ dataflow orders-a" in plan_text
    assert [line.split()[:2] for line in check_text.splitlines()[1:2]] == [["ok", "orders-a"]]
    assert check_text.rstrip().endswith("1 reachable, 0 unreachable, 0 cannot tell.")
    assert ran.shows_no_secret()
    assert moto.records("orders") == []  # read-only: nothing written


def test_an_unreachable_destination_fails_the_plan_after_showing_and_saving_it(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("good", "orders"))
    write(tmp_path, "b.yaml", kinesis_manifest("typo", "ordres"))
    ran = run(tmp_path, *PLAN, "--out", "plan.json", endpoint=moto.url)
    assert ran.code == 1
    assert "no stream ordres in us-east-1; similar names there: orders" in ran.out
    assert "1 destination(s) not reachable" in ran.err
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert sorted(c["name"] for c in saved["changes"] if c["type"] == "flow") == [
        "good",
        "typo",
    ]
    assert ran.shows_no_secret()


def test_a_plan_for_machines_keeps_standard_output_to_itself(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("typo", "ordres"))
    ran = run(tmp_path, *PLAN, "--format", "json", endpoint=moto.url)
    assert ran.code == 1
    assert json.loads(ran.out)["format_version"]  # the JSON plan alone
    assert "FAIL  typo" in ran.err and "no stream ordres" in ran.err


def test_without_the_sdks_the_plan_stops_before_reading_the_platform(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("orders-a", "orders"))
    ran = run(tmp_path, *PLAN, prelude="import sys; sys.modules['boto3'] = None")
    assert ran.code == 1
    assert "pip install 'provisioner[check]'" in ran.err
    assert "Reading" not in ran.err and ran.out == ""


def test_without_the_flag_no_destination_is_asked(tmp_path: Path, moto: MotoKinesis) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("typo", "ordres"))
    ran = run(tmp_path, "plan", "manifests", "--emulator", endpoint=moto.url)
    assert ran.code == 0, ran.err
    assert "Checking" not in ran.out + ran.err and "ordres" in ran.out
