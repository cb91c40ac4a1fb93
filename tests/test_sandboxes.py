"""Sandboxes that do not exist: the emulator refuses them as the platform does, and the tool
stops with an error naming the sandbox before it writes anything."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import httpx
import pytest
from click.testing import CliRunner

from provisioner.emulator import EmulatorApp, FaultRule, Store
from provisioner.emulator.audiences import AUDIENCES_PATH
from provisioner.emulator.cli import emulator as emulator_cli
from provisioner.emulator.identity import DEFAULT_ORG
from provisioner.emulator.server import EmulatorTransport
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.failures import ApiCallError, UnknownSandboxError, says_unknown_sandbox
from tests.emulator_support import (
    ADMIN_AUTH,
    Api,
    platform_target,
    seed_destinations,
    start_serve_process,
)
from tests.workspace import AUDIENCES, SECRETS, Workspace, kinesis

A, B = AUDIENCES[:2]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
WRITES = ("POST", "PATCH", "DELETE")
READING_POSTS = ("/ims/token/v3", "/audiences/bulk-get")


def in_sandbox(client: httpx.Client, sandbox: str) -> Api:
    return Api(client, sandbox)


def assert_unknown_sandbox(response: httpx.Response, sandbox: str) -> None:
    """The Flow Service's usual error shape, naming the sandbox."""
    assert response.status_code == 500, response.text
    body = response.json()
    message = f"The sandbox with the name '{sandbox}' could not be found"
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-2100-500"
    assert body["status"] == 500 and body["title"] == "Internal Server Error"
    assert body["report"]["detailed-message"] == message
    assert body["errorMessage"] == body["errorDetails"] == message


# the emulator ----------------------------------------------------------------------------


def test_every_request_in_an_unknown_sandbox_is_refused(api: Api) -> None:
    prdo = in_sandbox(api.client, "prdo")
    ids = {"ids": [{"id": A}]}
    for response in (
        prdo.get("/flows"),
        prdo.get("/flows/some-id"),
        prdo.get("/connectionSpecs"),
        prdo.post("/connections", json={"name": "x"}),
        prdo.delete("/flows/some-id"),
        prdo.get(AUDIENCES_PATH),
        prdo.get(f"{AUDIENCES_PATH}/{A}"),
        prdo.post(f"{AUDIENCES_PATH}/bulk-get", json=ids),
    ):
        assert_unknown_sandbox(response, "prdo")
    assert api.get("/flows").status_code == 200  # prod always exists


def test_the_admin_endpoint_adds_a_sandbox(api: Api) -> None:
    assert api.get("/emulator/sandboxes").json() == {"sandboxes": ["dev", "prod", "stage"]}
    assert in_sandbox(api.client, "uat").get("/flows").status_code == 500
    added = api.client.post("/emulator/sandboxes", json={"name": "uat"}, auth=ADMIN_AUTH)
    assert added.status_code == 201
    assert "uat" in added.json()["sandboxes"]
    assert in_sandbox(api.client, "uat").get("/flows").json()["items"] == []
    refused = api.client.post("/emulator/sandboxes", json={"name": "Not Valid"}, auth=ADMIN_AUTH)
    assert refused.status_code == 400 and "is not a sandbox name" in refused.json()["error"]
    anonymous = api.client.post("/emulator/sandboxes", json={"name": "other"})
    assert anonymous.status_code == 401


def test_sandboxes_holding_data_exist_and_stay(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    store = Store(db)
    [flow] = seed_destinations(store, 1, sandbox="legacy")  # data made before the check
    EmulatorApp(store).seed_audiences("seeded", [{"id": A, "name": "Men over 50"}])
    store.close()
    app = EmulatorApp(Store(db))
    with httpx.Client(transport=EmulatorTransport(app), base_url="http://emulator") as client:
        legacy = in_sandbox(client, "legacy")
        assert len(legacy.get("/flows").json()["items"]) == 1
        assert legacy.delete(f"/flows/{flow}").status_code == 202
        seeded = in_sandbox(client, "seeded")
        assert seeded.get(f"{AUDIENCES_PATH}/{A}").json()["name"] == "Men over 50"
        assert_unknown_sandbox(in_sandbox(client, "other").get("/flows"), "other")
    reopened = EmulatorApp(Store(db))  # another process, say
    reopened.store.clear()  # every object and audience gone: the sandboxes stay
    with httpx.Client(transport=EmulatorTransport(reopened), base_url="http://e") as client:
        assert in_sandbox(client, "legacy").get("/connections").json()["items"] == []
    assert reopened.sandbox_names() == ["legacy", "prod", "seeded"]


def test_serve_takes_its_sandboxes_and_the_documented_404(tmp_path: Path) -> None:
    process, url = start_serve_process(
        "--db", ":memory:", "--sandbox", "dev", "--sandbox", "uat", "--unknown-sandbox", "404"
    )
    try:
        with httpx.Client(base_url=url) as client:
            assert in_sandbox(client, "uat").get("/flows").status_code == 200
            listed = client.get("/emulator/sandboxes", auth=ADMIN_AUTH).json()
            assert listed == {"sandboxes": ["dev", "prod", "uat"]}
            unknown = in_sandbox(client, "prdo").get("/flows")
            assert unknown.status_code == 404
            assert unknown.json()["type"].endswith("/FLOW-2100-404")
    finally:
        process.terminate()
        process.wait(timeout=10)
    refused = CliRunner().invoke(emulator_cli, ["serve", "--sandbox", "Dev", "--port", "0"])
    assert refused.exit_code == 2 and "is not a sandbox name" in refused.output


def test_the_sandboxes_command_adds_to_a_data_file(tmp_path: Path) -> None:
    db = str(tmp_path / "e.db")
    runner = CliRunner()
    added = runner.invoke(emulator_cli, ["sandboxes", "add", "dev", "uat", "--db", db])
    assert added.exit_code == 0, added.output
    assert added.output == "sandbox dev: exists\nsandbox uat: exists\n"
    assert runner.invoke(emulator_cli, ["sandboxes", "list", "--db", db]).output == (
        "dev\nprod\nuat\n"
    )
    refused = runner.invoke(emulator_cli, ["sandboxes", "add", "UAT", "--db", db])
    assert refused.exit_code == 2 and "is not a sandbox name" in refused.output


# the client ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 404])
def test_the_client_names_an_unknown_sandbox(
    emulator: EmulatorApp, status: Literal[500, 404]
) -> None:
    emulator.config.unknown_sandbox_status = status  # a live platform's, or the documented
    prdo = replace(platform_target("http://emulator.invalid"), sandbox="prdo")
    with PlatformClient(prdo, ClientOptions(EmulatorTransport(emulator), FAST)) as client:
        # A 404 from a read by id must not read as "no such object".
        for read in (
            lambda: client.get("flows", "some-id", "read dataflow"),
            lambda: client.list_all("flows", [], "read dataflows"),
        ):
            with pytest.raises(UnknownSandboxError) as caught:
                read()
            message = str(caught.value)
            assert message.startswith(
                f"sandbox 'prdo' does not exist in org {DEFAULT_ORG}, or this client cannot "
                "use it: read dataflow"
            )
            assert f"answered {status} 2100-{status}: The sandbox with the name 'prdo'" in (message)
            assert "Check the sandbox name (--sandbox, AEP_SANDBOX" in message
            assert "try again later" not in message  # the platform said so: no doubt


def test_a_bare_500_before_any_success_reads_as_an_unknown_sandbox(
    emulator: EmulatorApp,
) -> None:
    with PlatformClient(
        platform_target("http://e.invalid"), ClientOptions(EmulatorTransport(emulator), FAST)
    ) as c:
        # As a live platform answered an unknown sandbox: 500, and nothing the tool relies on.
        emulator.faults.add_rule(FaultRule("500", "GET", "/flows"))
        with pytest.raises(UnknownSandboxError) as caught:
            c.list_all("flows", [], "read dataflows")
        assert "sandbox 'prod' does not exist in org" in str(caught.value)
        assert "if the name is right, the platform is failing: try again later" in str(caught.value)
        assert c.list_all("flows", [], "read dataflows") == []
        # Once a request in the sandbox succeeded, a 500 is the platform failing.
        emulator.faults.add_rule(FaultRule("500", "GET", "/flows"))
        with pytest.raises(ApiCallError, match="The platform is failing"):
            c.list_all("flows", [], "read dataflows")


@pytest.mark.parametrize(
    ("code", "message", "says_so"),
    [
        ("2100-404", "", True),
        ("2100-500", "anything at all", True),
        ("", "The sandbox with the name 'dev' could not be found", True),
        ("", "Sandbox 'dev' does not exist", True),
        ("1439-404", "The requested flows resource f is not found in sandbox 'dev'", False),
        ("1101-404", "sandbox 'dev': connection c not found", False),
        ("", "The service is temporarily unavailable", False),
    ],
)
def test_only_an_answer_about_the_sandbox_says_it_is_unknown(
    code: str, message: str, says_so: bool
) -> None:
    assert says_unknown_sandbox(code, message) is says_so


# end to end ------------------------------------------------------------------------------


def writes(observed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The requests among `observed` that could change something: not the token, nor reads
    (a bulk read of audiences is a POST)."""
    return [(m, p) for m, p in observed if m in WRITES and not p.endswith(READING_POSTS)]


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_run_against_an_unknown_sandbox_writes_nothing(
    workspace: Workspace, command: str
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A, {"id": B, "name": "Women 18-25"}]))
    ws.write("loyalty.yaml", kinesis("loyalty", stream="loyalty") + "audiences:\n  - name: Gold\n")
    observed: list[tuple[str, str]] = []
    ws.emulator.observers.append(lambda _n, method, path: observed.append((method, path)))
    result = ws.plan("--sandbox", "prdo") if command == "plan" else ws.apply("--sandbox", "prdo")
    assert result.code == 1, result.out + result.err
    assert result.err.startswith(
        f"error: sandbox 'prdo' does not exist in org {DEFAULT_ORG}, or this client cannot use it: "
    )
    assert "no audience named" not in result.err and "does not exist in sandbox" not in result.err
    assert observed and writes(observed) == []
    assert ws.emulator.store.sandbox_names() == set()  # nothing written, prdo not made


def test_the_embedded_emulator_knows_the_projects_sandboxes(workspace: Workspace) -> None:
    ws = workspace
    ws.env = dict(SECRETS)  # nothing configured: the embedded emulator
    ws.write("orders.yaml", kinesis("orders", [A]))
    (ws.root / "provisioner.yaml").write_text(
        "manifests: [manifests]\nenvironments:\n  review:\n    sandbox: review-1\n",
        encoding="utf-8",
    )
    assert ws.run("apply", "--env", "review", "--auto-approve").code == 0
    assert ws.run("plan", "--env", "review", "--detailed-exitcode").code == 0
    typo = ws.run("plan", "--sandbox", "reveiw-1")
    assert typo.code == 1
    assert "error: sandbox 'reveiw-1' does not exist in org" in typo.err
    assert "`provisioner emulator sandboxes add reveiw-1`" in typo.err
    db = str(ws.root / ".provisioner" / "emulator.db")
    added = CliRunner().invoke(emulator_cli, ["sandboxes", "add", "reveiw-1", "--db", db])
    assert added.exit_code == 0, added.output
    assert ws.run("plan", "--sandbox", "reveiw-1", "--detailed-exitcode").code == 2
