"""The flow action in both documented forms: the Destinations form first, the Sources form
when the platform refuses that one by naming its parameters, and the working form kept for
the rest of the run. End to end in-process against the strict emulator taking one form."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from provisioner.apply.run import Applier, ApplyReport
from provisioner.cli.planning import Scope, load_manifests, plan_for
from provisioner.emulator import EmulatorApp, EmulatorConfig
from provisioner.emulator.server import EmulatorTransport
from provisioner.emulator.strict import ActionForm
from provisioner.plan.model import Plan
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.failures import ApiCallError
from provisioner.platform.flow_action import is_enabled
from provisioner.platform.limiter import RequestLimiter
from tests.contract.conflicts import UNDOCUMENTED_TOOL_WRITES
from tests.emulator_support import platform_target
from tests.workspace import AUDIENCES, SECRETS, kinesis

A, B = AUDIENCES[:2]
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002)
EMULATOR_URL = "http://emulator.test"


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply resolves the accounts' secrets from the environment, as the CLI does."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@dataclass
class ActionLog(httpx.BaseTransport):
    """Passes every request on; keeps the flow actions' queries and their statuses."""

    inner: httpx.BaseTransport
    actions: list[tuple[dict[str, list[str]], int]] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/action"):
            self.actions.append((parse_qs(request.url.query.decode()), response.status_code))
        return response


@dataclass
class Run:
    plan: Plan
    report: ApplyReport
    working_form: str | None


def apply_in_process(
    folder: Path,
    transport: httpx.BaseTransport,
    concurrency: int = 1,
    policy: RetryPolicy = FAST,
    limiter: RequestLimiter | None = None,
    sleep: Callable[[float], None] = lambda _: None,
) -> Run:
    """What `provisioner apply --auto-approve` does, with one client (one run)."""
    target = platform_target(EMULATOR_URL)
    manifests = load_manifests([folder], secrets=True, environ=SECRETS).manifests
    options = ClientOptions(
        transport, policy, concurrency=concurrency, sleep=sleep, limiter=limiter
    )
    with PlatformClient(target, options) as client:
        the_plan, managed = plan_for(client, manifests, target, Scope(), environ={})
        report = Applier(client, the_plan, managed).run()
        return Run(the_plan, report, client.action_forms.working)


def plan_in_process(folder: Path, transport: httpx.BaseTransport) -> Plan:
    target = platform_target(EMULATOR_URL)
    manifests = load_manifests([folder], secrets=True, environ=SECRETS).manifests
    with PlatformClient(target, ClientOptions(transport, FAST)) as client:
        return plan_for(client, manifests, target, Scope(), environ={})[0]


def write_flows(
    folder: Path, enabled: bool, names: tuple[str, ...] = ("orders", "returns")
) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.yaml").write_text(kinesis(name, [A, B], enabled=enabled, stream=name))


def _states(app: EmulatorApp) -> dict[str, str]:
    return {flow["name"]: flow["state"] for _, flow in app.store.entries("flows", "prod")}


@pytest.mark.parametrize("form", ["destinations", "sources", "both"])
def test_disable_then_enable_converges_on_each_action_form(
    tmp_path: Path, form: ActionForm
) -> None:
    app = EmulatorApp(
        config=EmulatorConfig(strict=True, action_form=form, also_accept=UNDOCUMENTED_TOOL_WRITES)
    )
    folder = tmp_path / "manifests"
    for enabled in (False, True):
        log = ActionLog(EmulatorTransport(app))
        write_flows(folder, enabled)
        run = apply_in_process(folder, log)
        assert run.report.failed == [], run.report.failed
        wanted = "enabled" if enabled else "disabled"
        assert _states(app) == {"orders": wanted, "returns": wanted}
        assert not plan_in_process(folder, EmulatorTransport(app)).has_changes

        sent = [(query, status) for query, status in log.actions]
        assert len([s for _, s in sent if s == 200]) == 2  # one action per dataflow
        op = "enable" if enabled else "disable"
        if form == "sources":
            # Refused once in the Destinations form, then the Sources form for the rest.
            assert sent[0] == ({"op": [op]}, 400)
            assert [q for q, _ in sent[1:]] == [{"op": [op.upper()], "subOp": ["APPLY"]}] * 2
            assert run.working_form == "sources"
        else:
            assert sent == [({"op": [op]}, 200)] * 2
            assert run.working_form == "destinations"


# the fallback, answer by answer ------------------------------------------------------


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> PlatformClient:
    def with_token(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/v3"):
            body = {"access_token": "t", "token_type": "bearer", "expires_in": 86399}
            return httpx.Response(200, json=body)
        return handler(request)

    options = ClientOptions(httpx.MockTransport(with_token), FAST)
    return PlatformClient(platform_target(EMULATOR_URL), options)


def _refusal(message: str) -> httpx.Response:
    body = {"type": "https://ns.adobe.com/aep/errors/FLOW-1400-400", "title": message}
    return httpx.Response(400, content=json.dumps(body).encode())


def test_a_refusal_naming_the_parameters_switches_form_once_for_the_run() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        seen.append(query)
        if "subOp" not in query:
            return _refusal("Invalid value for query parameter op; subOp is required")
        return httpx.Response(200, json={"id": "f", "etag": '"2"'})

    with _client(handler) as client:
        assert client.flow_action("f", "disable", "disable f") == '"2"'
        assert client.flow_action("g", "enable", "enable g") == '"2"'
    assert seen == ["op=disable", "op=DISABLE&subOp=APPLY", "op=ENABLE&subOp=APPLY"]


def test_a_refusal_about_the_state_is_not_a_form_problem() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query.decode())
        return _refusal("The action disable cannot be applied on the current state disabled")

    with _client(handler) as client, pytest.raises(ApiCallError) as caught:
        client.flow_action("f", "disable", "disable f")
    assert seen == ["op=disable"]
    assert "current state" in str(caught.value)


def test_both_forms_refused_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _refusal("Invalid query parameters op and subOp")

    with _client(handler) as client, pytest.raises(ApiCallError) as caught:
        client.flow_action("f", "enable", "enable f")
    text = str(caught.value)
    assert "both documented forms" in text
    assert "op=enable and op=ENABLE&subOp=APPLY" in text
    assert client.action_forms.working is None


@pytest.mark.parametrize(
    ("state", "enabled"),
    [("enabled", True), ("ENABLED", True), ("Enabled", True), ("disabled", False),
     ("DISABLED", False), (None, True)],
)  # fmt: skip
def test_a_state_is_read_in_either_case(state: str | None, enabled: bool) -> None:
    flow = {"id": "f"} if state is None else {"id": "f", "state": state}
    assert is_enabled(flow) is enabled
