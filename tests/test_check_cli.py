"""`provisioner check` end to end: the real entry point in a subprocess against moto's Kinesis
server on loopback (exit codes, formats, the project file and --env, a test record read
back), in-process for Event Hubs (its producer replaced at the SDK boundary), and what the
command line imports, or says, when the SDKs are not there."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.eventhub import EventDataBatch
from azure.eventhub._pyamqp.error import AMQPConnectionError, ErrorCondition
from azure.eventhub.exceptions import ConnectError

from provisioner.cli import main
from provisioner.preflight import azure_event_hubs as eventhubs
from tests.check_support import (
    SAS,
    FakeProducer,
    MotoKinesis,
    Ran,
    event_hubs_manifest,
    kinesis_manifest,
    run,
    sdk_error,
    write,
)

SDK_MODULES = ("boto3", "botocore", "azure", "moto")


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


def test_all_reachable_exits_0_one_line_each(tmp_path: Path, moto: MotoKinesis) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("orders-a", "orders"))
    write(tmp_path, "b.yaml", kinesis_manifest("orders-b", "orders"))
    ran = run(tmp_path, "check", "manifests", endpoint=moto.url)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0] == "Checking 2 destination(s), read-only, 20s each:"
    assert [line.split()[:2] for line in lines[1:3]] == [["ok", "orders-a"], ["ok", "orders-b"]]
    assert lines[-1] == "2 destination(s): 2 reachable, 0 unreachable, 0 cannot tell."
    assert ran.shows_no_secret()
    assert moto.records("orders") == []


def test_some_unreachable_exits_2_and_json_says_why(tmp_path: Path, moto: MotoKinesis) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("good", "orders"))
    write(tmp_path, "b.yaml", kinesis_manifest("typo", "ordres"))
    ran = run(tmp_path, "check", "manifests", "--format", "json", endpoint=moto.url)
    assert ran.code == 2, ran.err
    report = json.loads(ran.out)
    assert report["reachable"] is False
    assert report["summary"] == {
        "destinations": 2,
        "reachable": 1,
        "cannot_tell": 0,
        "unreachable": 1,
    }
    good, typo = report["destinations"]
    assert (good["name"], good["outcome"]) == ("good", "reachable")
    assert typo["outcome"] == "unreachable"
    assert typo["message"] == "no stream ordres in us-east-1; similar names there: orders"
    assert typo["source"] == "manifests/b.yaml:6:11"
    assert ran.shows_no_secret()


def test_github_annotations_reach_the_runner_on_the_manifests_line(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("typo", "ordres"))
    ran = run(
        tmp_path,
        "check",
        "manifests",
        "--format",
        "github",
        endpoint=moto.url,
        env={"GITHUB_ACTIONS": "true"},
    )
    assert ran.code == 2
    first = ran.out.splitlines()[0]
    assert first.startswith(
        "::error file=manifests/a.yaml,line=6,title=provisioner check%3A typo::typo "
        "(stream ordres in us-east-1): no stream ordres"
    )
    assert "FAIL  typo" in ran.out


def test_a_test_record_is_sent_and_read_back(tmp_path: Path, moto: MotoKinesis) -> None:
    extra = "attributes:\n  - person.email\n"
    write(tmp_path, "a.yaml", kinesis_manifest("orders-flow", "orders", extra=extra))
    ran = run(tmp_path, "check", "manifests", "--send-test-record", endpoint=moto.url)
    assert ran.code == 0, ran.err
    (data,) = moto.records("orders")
    record = json.loads(data)
    assert record["person"] == {"email": "provisioner check test value"}
    assert record["provisionerCheck"]["dataflow"] == "orders-flow"
    assert "test record written: sequence number" in ran.out


def test_the_project_files_environment_gives_the_variables(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    moto.create_stream("orders-dev")
    (tmp_path / "provisioner.yaml").write_text(
        "manifests: [manifests]\nenvironments:\n"
        "  dev:\n    sandbox: dev\n    vars: {stream: orders-dev}\n"
        "  prod:\n    sandbox: prod\n    vars: {stream: orders-prod}\n",
        encoding="utf-8",
    )
    write(tmp_path, "a.yaml", kinesis_manifest("orders-flow", "${var:stream}"))
    dev = run(tmp_path, "check", "--env", "dev", endpoint=moto.url)
    prod = run(tmp_path, "check", endpoint=moto.url, env={"PROVISIONER_ENV": "prod"})
    assert dev.code == 0 and "stream orders-dev is ACTIVE" in dev.out
    assert prod.code == 2 and "no stream orders-prod in us-east-1" in prod.out


def test_a_pipelines_platform_settings_do_not_stop_a_check(
    tmp_path: Path, moto: MotoKinesis
) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("orders-flow", "orders"))
    pipeline = {"CI": "true", "AEP_PLATFORM_URL": "https://platform.adobe.io", "AEP_SANDBOX": "x"}
    ran = run(tmp_path, "check", "manifests", endpoint=moto.url, env=pipeline)
    assert ran.code == 0, ran.err
    assert "stream orders is ACTIVE" in ran.out


def test_a_secret_that_cannot_be_resolved_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", kinesis_manifest("orders-flow", "orders"))
    ran = run(tmp_path, "check", "manifests", prelude="import os; os.environ.pop('AWS_SECRET')")
    assert ran.code == 1
    assert "cannot resolve ${env:AWS_SECRET}" in ran.err
    assert ran.out == ""


@pytest.mark.parametrize(
    ("blocked", "manifest"),
    [
        ("boto3", kinesis_manifest("orders-flow", "orders")),
        ("azure.eventhub", event_hubs_manifest("hub-flow")),
    ],
)
def test_without_the_sdks_check_says_how_to_install_them(
    tmp_path: Path, blocked: str, manifest: str
) -> None:
    write(tmp_path, "a.yaml", manifest)
    block = f"import sys; sys.modules[{blocked!r}] = None"  # as if it were not installed
    ran = run(tmp_path, "check", "manifests", prelude=block)
    assert ran.code == 1
    assert f"needs {blocked}, which is not installed" in ran.err
    assert "pip install 'provisioner[check]'" in ran.err
    assert ran.shows_no_secret()


_PROBE = """
import json, sys
from provisioner.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("args", [("--help",), ("plan", "--help"), ("check", "--help")])
def test_help_and_plan_never_import_the_sdks(args: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "click" in loaded  # the probe ran the command line
    assert not loaded & set(SDK_MODULES), sorted(loaded & set(SDK_MODULES))


# Event Hubs, in-process: the producer answers at the SDK's boundary ----------------------------


@contextlib.contextmanager
def _in(root: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(before)


def run_here(root: Path, *args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with _in(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())


def test_event_hubs_lines_and_no_key_in_any_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SAS.items():
        monkeypatch.setenv(name, value)
    # A service message that quotes the key: the run's redactor takes it out.
    amqp = AMQPConnectionError(
        ErrorCondition.SocketError,
        description=f"connection reset while sending {SAS['SAS_KEY']}",
    )

    class Producer(FakeProducer):
        def create_batch(self) -> EventDataBatch:
            if self.kwargs["eventhub_name"] == "broken":
                raise sdk_error(ConnectError, amqp)
            return super().create_batch()

    FakeProducer.made, FakeProducer.fails, FakeProducer.send_fails = [], None, None
    monkeypatch.setattr(eventhubs, "EventHubProducerClient", Producer)
    write(tmp_path, "a.yaml", event_hubs_manifest("hub-ok", "orders"))
    write(tmp_path, "b.yaml", event_hubs_manifest("hub-broken", "broken"))
    ran = run_here(tmp_path, "check", "manifests")
    assert ran.code == 2
    ok_line, broken_line = ran.out.splitlines()[1:3]
    assert ok_line.split()[:2] == ["ok", "hub-ok"]
    assert broken_line.split()[:2] == ["FAIL", "hub-broken"]
    assert "cannot connect to contoso-events.servicebus.windows.net" in broken_line
    assert "<redacted>" in broken_line
    assert ran.shows_no_secret()
