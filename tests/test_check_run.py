"""How `check` runs and reports: checks at once, each within its own timeout; the test
record's shape; the renderings."""

from __future__ import annotations

import datetime
import json
import threading
import time

import pytest

from provisioner import __version__, destinations
from provisioner.manifest import Manifest
from provisioner.preflight import pool
from provisioner.preflight.model import Checked, CheckReport, Deadline, Finding, Sent, Service
from provisioner.preflight.pool import run_checks
from provisioner.preflight.record import record_for
from provisioner.preflight.run import services_for
from provisioner.render.check import github_annotations, render_check_json, render_check_text


def test_checks_run_at_once_and_report_in_order() -> None:
    together = threading.Barrier(3, timeout=5)  # breaks unless all three run at once

    def check(name: str) -> pool.Check:
        def run(deadline: Deadline) -> Finding:
            together.wait()
            return Finding.reachable(name)

        return run

    findings = run_checks([check("a"), check("b"), check("c")], timeout=5, workers=3)
    assert [f.message for f in findings] == ["a", "b", "c"]


def test_a_check_past_its_timeout_is_left_behind_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool, "GRACE", 0.05)
    release = threading.Event()
    deadlines: list[float] = []

    def stuck(deadline: Deadline) -> Finding:
        release.wait(10)
        return Finding.reachable("too late")

    def quick(deadline: Deadline) -> Finding:
        deadlines.append(deadline.at - time.monotonic())
        return Finding.reachable("quick")

    began = time.monotonic()
    findings = run_checks([stuck, quick, quick], timeout=0.3, workers=1)
    took = time.monotonic() - began
    release.set()
    assert findings[0] == Finding.unreachable("no answer within 0.3s (--timeout)")
    assert [f.message for f in findings[1:]] == ["quick", "quick"]
    assert took < 2
    # Each check's clock started when it started, not when it was queued behind the stuck one.
    assert all(left > 0.2 for left in deadlines)


def test_a_bug_in_a_check_is_raised_in_the_callers_thread() -> None:
    def broken(deadline: Deadline) -> Finding:
        raise KeyError("a bug")

    with pytest.raises(KeyError, match="a bug"):
        run_checks([broken], timeout=5, workers=2)


def test_the_test_record_has_the_exported_shape_and_says_it_is_a_test() -> None:
    manifest = Manifest.model_validate(
        {
            "version": 1,
            "name": "orders-flow",
            "destination": {
                "type": "azure-event-hubs",
                "namespace": "contoso-events",
                "eventHub": "orders",
                "credentials": {"sasKeyName": "${env:N}", "sasKey": "${env:K}"},
            },
            "audiences": [
                "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02",
                {"name": "looked up by name: no id to export"},
            ],
            "attributes": ["person.name", "person.name.firstName", "mobilePhone.number"],
        }
    )
    now = datetime.datetime(2025, 3, 1, 12, 30, tzinfo=datetime.UTC)
    assert record_for(manifest, now) == {
        "mobilePhone": {"number": "provisioner check test value"},
        # person.name holds a value: the longer path under it cannot be placed
        "person": {"name": "provisioner check test value"},
        "segmentMembership": {
            "ups": {
                "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02": {
                    "lastQualificationTime": "2025-03-01T12:30:00Z",
                    "status": "realized",
                }
            }
        },
        "identityMap": {"ecid": [{"id": "provisioner-check-test-record"}]},
        "provisionerCheck": {
            "test": True,
            "dataflow": "orders-flow",
            "sentAt": "2025-03-01T12:30:00Z",
            "tool": f"provisioner {__version__}",
        },
    }


def _report() -> CheckReport:
    return CheckReport(
        [
            Checked(
                "orders",
                "m/a.yaml:6:11",
                "amazon-kinesis",
                "stream orders in us-east-1",
                Finding.reachable(
                    "stream orders is ACTIVE in us-east-1; test record written: "
                    "sequence number 7 in shardId-0",
                    Sent("7", "shardId-0"),
                ),
            ),
            Checked(
                "100%,\x1b[31mred",
                "m/b.yaml:9:5",
                "amazon-kinesis",
                "stream x in us-east-1",
                Finding.unreachable("no stream x in us-east-1\nsecond line"),
            ),
            Checked(
                "hub",
                "m/c.yaml:7:13",
                "azure-event-hubs",
                "event hub h in namespace n",
                Finding.cannot_tell("the state cannot be read"),
            ),
        ],
        timeout=20,
        sent_test_records=True,
    )


def test_text_is_one_line_per_destination_with_the_counts() -> None:
    text = render_check_text(_report())
    lines = text.splitlines()
    assert lines[0] == "Checking 3 destination(s), writing one test record each, 20s each:"
    assert lines[1].split()[:2] == ["ok", "orders"]
    assert lines[2].startswith("  FAIL  100%,\\x1b[31mred")  # the escape shown, not obeyed
    assert lines[2].endswith("no stream x in us-east-1 second line")
    assert lines[3].split()[:2] == ["?", "hub"]
    assert lines[-1] == (
        "3 destination(s): 1 reachable, 1 unreachable, 1 cannot tell; one test record sent "
        "to each reachable destination."
    )


def test_annotations_are_errors_and_warnings_escaped_for_the_runner() -> None:
    error, warning = github_annotations(_report())
    assert error.startswith("::error file=m/b.yaml,line=9,title=provisioner check%3A 100%25%2C")
    assert "\n" not in error and "\x1b" not in error
    assert warning == (
        "::warning file=m/c.yaml,line=7,title=provisioner check%3A hub::hub (event hub h in "
        "namespace n): the state cannot be read"
    )


def test_json_has_every_field() -> None:
    report = json.loads(render_check_json(_report()))
    assert report["reachable"] is False
    assert report["summary"] == {
        "destinations": 3,
        "reachable": 1,
        "cannot_tell": 1,
        "unreachable": 1,
    }
    assert report["destinations"][0]["test_record"] == {
        "sequence_number": "7",
        "shard_id": "shardId-0",
    }
    assert report["destinations"][2]["outcome"] == "cannot-tell"


def test_every_destination_type_has_a_service_to_ask() -> None:
    found = services_for(destinations.type_names())
    assert sorted(found) == sorted(destinations.type_names())
    assert all(isinstance(service, Service) for service in found.values())
