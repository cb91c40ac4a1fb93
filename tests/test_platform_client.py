"""The platform client against the emulator, in-process and over loopback HTTP."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from provisioner.connect import connect
from provisioner.emulator import EmulatorApp, FaultRule
from provisioner.emulator.audiences import AUDIENCES_PATH
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.server import EmulatorTransport, serving
from provisioner.manifest.checks import load_and_check
from provisioner.platform.audiences import AudienceReader
from provisioner.platform.auth import TokenSource
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.failures import AmbiguousWriteError, ApiCallError, UnreachableError
from provisioner.platform.ids import IMS_TOKEN_PATH
from provisioner.platform.target import Target
from provisioner.state.audiences import resolve_audiences
from tests.emulator_support import kinesis_account, platform_target

FAST = RetryPolicy(attempts=10, base_delay=0.001, max_delay=0.005, max_elapsed=30)
CANARY = "canary-client-secret-5d1e"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(params=["in-process", "http"])
def client(request: pytest.FixtureRequest, emulator: EmulatorApp) -> Iterator[PlatformClient]:
    sleeps = Sleeps()
    if request.param == "in-process":
        target = Target("emulator", ":memory:", DEFAULT_ORG, "prod", client_id=DEFAULT_CLIENT_ID)
        with connect(target, EmulatorTransport(emulator), policy=FAST, sleep=sleeps) as c:
            yield c
        return
    with (
        serving(emulator) as url,
        PlatformClient(platform_target(url), ClientOptions(policy=FAST, sleep=sleeps)) as c,
    ):
        yield c


def find_by_name(client: PlatformClient, name: str) -> dict[str, object] | None:
    found = [c for c in client.list_all("connections", [], "find") if c["name"] == name]
    return found[0] if found else None


def create_account(client: PlatformClient, name: str) -> str:
    created = client.create(
        "connections",
        kinesis_account(name=name),
        "create account",
        lambda: find_by_name(client, name),
    )
    return created.id


def names_in(emulator: EmulatorApp) -> list[str]:
    return sorted(c["name"] for _, c in emulator.store.entries("connections", "prod"))


# headers and tokens -----------------------------------------------------------------


def test_every_call_carries_the_platform_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 86399})
        if request.method == "GET":
            return httpx.Response(200, json={"items": [], "_links": {}})
        return httpx.Response(201, json={"id": "x", "etag": '"e"'})

    target = replace(platform_target("https://platform.example"), sandbox="dev")
    with PlatformClient(target, ClientOptions(httpx.MockTransport(handler), FAST)) as client:
        client.call("create", "POST", "/connections", body={"name": "n"}, ok=(201,))
        client.call("read", "GET", "/connections")
    token_request, post, get = seen
    assert token_request.url == "https://platform.example/ims/token/v3"
    assert b"grant_type=client_credentials" in token_request.content
    for request in (post, get):
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.headers["x-api-key"] == DEFAULT_CLIENT_ID
        assert request.headers["x-gw-ims-org-id"] == DEFAULT_ORG
        assert request.headers["x-sandbox-name"] == "dev"
    assert post.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in get.headers


def test_the_token_is_fetched_once_per_run(client: PlatformClient, emulator: EmulatorApp) -> None:
    for _ in range(5):
        client.list_all("flows", [], "read")
    assert client.request_count == 6  # one token, five reads


def test_a_cached_token_is_renewed_before_it_expires() -> None:
    now = [0.0]
    fetched: list[str] = []

    def fetch(url: str, form: dict[str, str]) -> dict[str, object]:
        fetched.append(url)
        return {"access_token": f"t{len(fetched)}", "expires_in": 3600}

    source = TokenSource(platform_target("https://x.example"), fetch, clock=lambda: now[0])
    assert source.token() == "t1"
    now[0] = 3239.0
    assert source.token() == "t1"
    now[0] = 3240.0  # 90% of the lifetime (earlier than five minutes before expiry)
    assert source.token() == "t2"
    assert len(fetched) == 2


def test_a_lost_token_reply_is_retried_like_a_read(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    emulator.faults.add_rule(FaultRule("lose", "POST", IMS_TOKEN_PATH))
    assert client.list_all("flows", [], "read") == []
    assert emulator.faults.rules == []  # IMS answered, and the answer was lost
    assert client.request_count == 3  # the lost token, the token again, the read


def test_threads_waiting_on_a_failed_token_exchange_share_its_failure() -> None:
    fetching, fail = threading.Event(), threading.Event()
    fetched: list[str] = []

    def fetch(url: str, form: dict[str, str]) -> dict[str, object]:
        fetched.append(url)
        fetching.set()
        fail.wait(5)
        raise UnreachableError("get an access token: no answer after 6 tries")

    source = TokenSource(platform_target("https://x.example"), fetch)
    failures: list[Exception] = []

    def read() -> None:
        try:
            source.token()
        except UnreachableError as error:
            failures.append(error)

    first = threading.Thread(target=read)
    first.start()
    fetching.wait(5)
    waiting = [threading.Thread(target=read) for _ in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.05)  # they queue for the exchange in progress
    fail.set()
    for thread in [first, *waiting]:
        thread.join(5)
    assert len(failures) == 4
    assert len(fetched) == 1  # the others did not go through every try again
    with pytest.raises(UnreachableError):
        source.token()  # a later request tries anew
    assert len(fetched) == 2


def test_a_rejected_token_is_renewed_once(client: PlatformClient, emulator: EmulatorApp) -> None:
    client.list_all("flows", [], "read")
    emulator.store.signing_key = b"rotated"  # every token issued so far is now invalid
    assert client.list_all("flows", [], "read") == []
    # token, read; then the rejected read, one new token, the read again
    assert client.request_count == 5


def test_an_expired_token_is_renewed_once(
    client: PlatformClient, emulator: EmulatorApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.list_all("flows", [], "read")  # fetches a token valid for a day
    real_time = time.time
    # two days on, for the emulator (the client's own clock is monotonic, and unchanged)
    monkeypatch.setattr(time, "time", lambda: real_time() + 2 * 86400)
    assert client.list_all("flows", [], "read") == []  # the server saw it expired
    assert client.request_count == 5  # token, read; refused read, new token, read


def test_a_bad_static_token_is_a_clear_error(emulator: EmulatorApp) -> None:
    with serving(emulator) as url:
        target = replace(platform_target(url, secret=""), access_token="not-a-token")
        with (
            PlatformClient(target, ClientOptions(policy=FAST)) as client,
            pytest.raises(ApiCallError) as caught,
        ):
            client.list_all("flows", [], "read dataflows")
    message = str(caught.value)
    assert "read dataflows: GET /data/foundation/flowservice/flows answered 401 401013" in message
    assert "AEP_CLIENT_ID and AEP_CLIENT_SECRET" in message
    assert "not-a-token" not in message


def test_a_wrong_client_secret_is_a_clear_error(emulator: EmulatorApp) -> None:
    with (
        serving(emulator) as url,
        PlatformClient(platform_target(url, CANARY), ClientOptions(policy=FAST)) as c,
        pytest.raises(ApiCallError) as caught,
    ):
        c.list_all("flows", [], "read")
    assert "get an access token" in str(caught.value) and "invalid_client" in str(caught.value)
    assert CANARY not in str(caught.value)


# resilience -------------------------------------------------------------------------


def test_reads_and_creates_survive_a_429_and_503_storm(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    emulator.faults.update({"rate_429": 0.3, "rate_5xx": 0.1, "retry_after": 0, "seed": 7})
    for i in range(30):
        create_account(client, f"account-{i:02d}")
    ids = [c["id"] for c in client.list_all("connections", [], "read")]
    assert len(client.get_by_ids("connections", ids, "read")) == 30
    assert names_in(emulator) == [f"account-{i:02d}" for i in range(30)]  # no duplicates


def test_a_lost_create_response_is_adopted_not_repeated(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    emulator.faults.add_rule(FaultRule("lose", "POST", "/connections"))
    created = client.create(
        "connections",
        kinesis_account(name="once"),
        "create account",
        lambda: find_by_name(client, "once"),
    )
    assert created.adopted is True
    assert names_in(emulator) == ["once"]
    assert created.id == emulator.store.entries("connections", "prod")[0][1]["id"]


@pytest.mark.parametrize("action", ["drop", "503"])
def test_a_create_that_did_not_happen_is_made_once(
    client: PlatformClient, emulator: EmulatorApp, action: str
) -> None:
    emulator.faults.add_rule(FaultRule(action, "POST", "/connections"))  # type: ignore[arg-type]
    created = client.create(
        "connections",
        kinesis_account(name="one"),
        "create account",
        lambda: find_by_name(client, "one"),
    )
    assert created.adopted is False
    assert names_in(emulator) == ["one"]


def test_a_lost_patch_reply_is_reported_as_ambiguous(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    account = create_account(client, "a")
    etag = client.get("connections", account, "read")["etag"]  # type: ignore[index]
    emulator.faults.add_rule(FaultRule("lose", "PATCH"))
    ops = [{"op": "replace", "path": "/name", "value": "b"}]
    with pytest.raises(AmbiguousWriteError):
        client.patch("connections", account, ops, etag, "rename account")
    assert names_in(emulator) == ["b"]


def test_a_patch_answered_503_is_retried(client: PlatformClient, emulator: EmulatorApp) -> None:
    account = create_account(client, "a")
    etag = client.get("connections", account, "read")["etag"]  # type: ignore[index]
    emulator.faults.add_rule(FaultRule("503", "PATCH", times=2))
    new_etag = client.patch(
        "connections", account, [{"op": "replace", "path": "/name", "value": "b"}], etag, "rename"
    )
    assert new_etag is not None and new_etag != etag


def test_a_delete_whose_reply_was_lost_is_done(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    account = create_account(client, "a")
    emulator.faults.add_rule(FaultRule("lose", "DELETE"))
    client.delete("connections", account, "delete account")
    assert names_in(emulator) == []


def test_retry_after_is_honoured(emulator: EmulatorApp) -> None:
    sleeps = Sleeps()
    emulator.faults.update({"retry_after": 3})
    emulator.faults.add_rule(FaultRule("429", "GET", times=2))
    target = Target("emulator", ":memory:", DEFAULT_ORG, "prod", client_id=DEFAULT_CLIENT_ID)
    with connect(target, EmulatorTransport(emulator), policy=FAST, sleep=sleeps) as client:
        client.list_all("flows", [], "read")
    # As the platform asked, with at most a tenth of jitter, and no exponential growth.
    assert len(sleeps) == 2 and all(3.0 <= s <= 3.3 for s in sleeps), sleeps


def test_retries_are_bounded_and_the_hint_says_so(emulator: EmulatorApp) -> None:
    target = Target("emulator", ":memory:", DEFAULT_ORG, "prod", client_id=DEFAULT_CLIENT_ID)
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.001)
    with connect(target, EmulatorTransport(emulator), policy=policy, sleep=Sleeps()) as client:
        client.tokens.token()
        emulator.faults.update({"rate_429": 1.0, "retry_after": 0})
        with pytest.raises(ApiCallError) as caught:
            client.list_all("flows", [], "read dataflows")
    # A 429 gets twice the attempts of other failures: it says "later", not "broken".
    assert caught.value.attempts == 8
    assert "answered 429 429050" in str(caught.value)
    assert "Still rate-limited after 8 tries" in str(caught.value)


def test_a_rate_limited_token_exchange_says_so(emulator: EmulatorApp) -> None:
    emulator.faults.update({"rate_429": 1.0, "retry_after": 0})
    target = Target("emulator", ":memory:", DEFAULT_ORG, "prod", client_id=DEFAULT_CLIENT_ID)
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.001)
    with (
        connect(target, EmulatorTransport(emulator), policy=policy, sleep=Sleeps()) as client,
        pytest.raises(ApiCallError) as caught,
    ):
        client.list_all("flows", [], "read")
    assert str(caught.value).startswith("get an access token: POST")
    assert "Still rate-limited after 6 tries" in str(caught.value)


def test_an_unreachable_platform_is_reported(emulator: EmulatorApp) -> None:
    with serving(emulator) as url:
        pass  # the port is closed again
    with (
        PlatformClient(
            replace(platform_target(url), access_token="t"),
            ClientOptions(policy=RetryPolicy(attempts=3, base_delay=0.001), sleep=Sleeps()),
        ) as client,
        pytest.raises(UnreachableError, match="no answer after 3 tries"),
    ):
        client.list_all("flows", [], "read dataflows")


# errors a person can act on ---------------------------------------------------------


def test_error_messages_carry_operation_path_status_code_and_hint(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    with pytest.raises(ApiCallError) as missing:
        client.call("read dataflow", "GET", "/flows/nope")
    assert str(missing.value).startswith(
        "read dataflow: GET /data/foundation/flowservice/flows/nope answered 404 1439-404: "
        "The requested flows resource nope is not found."
    )
    assert "run plan again" in str(missing.value)
    account = create_account(client, "a")
    with pytest.raises(ApiCallError) as stale:
        client.patch(
            "connections",
            account,
            [{"op": "replace", "path": "/name", "value": "x"}],
            '"stale"',
            "rename account",
        )
    assert "answered 412 1404-412" in str(stale.value)
    assert "changed since it was read; run plan again" in str(stale.value)
    with pytest.raises(ApiCallError) as invalid:
        client.call("create account", "POST", "/connections", body={"name": "x"}, ok=(201,))
    assert "answered 400 1413-400: Please provide a valid spec id" in str(invalid.value)
    emulator.faults.update({"rate_5xx": 1.0})
    with pytest.raises(ApiCallError) as failing:
        client.call("read", "GET", "/flows")
    assert "The platform is failing (after 10 tries)" in str(failing.value)


def test_forbidden_hint_names_the_product_profile(emulator: EmulatorApp) -> None:
    with serving(emulator) as url:
        target = replace(platform_target(url), org="OTHER@AdobeOrg")
        emulator.config.clients[DEFAULT_CLIENT_ID] = (DEFAULT_CLIENT_SECRET, DEFAULT_ORG)
        with (
            PlatformClient(target, ClientOptions(policy=FAST)) as client,
            pytest.raises(ApiCallError) as caught,
        ):
            client.list_all("flows", [], "read")
    assert "answered 403 403025" in str(caught.value) and "product profile" in str(caught.value)


# secrets ----------------------------------------------------------------------------


def test_no_secret_in_any_log_or_error(
    emulator: EmulatorApp, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.config.clients[DEFAULT_CLIENT_ID] = (CANARY, DEFAULT_ORG)
    caplog.set_level(logging.DEBUG)
    with (
        serving(emulator) as url,
        PlatformClient(platform_target(url, CANARY), ClientOptions(policy=FAST)) as c,
    ):
        c.redact.add("canary-account-key")
        emulator.faults.update({"rate_429": 0.3, "rate_5xx": 0.2, "retry_after": 0, "seed": 3})
        c.create(
            "connections",
            kinesis_account(secret="canary-account-key", name="n"),
            "create account",
            lambda: find_by_name(c, "n"),
        )
        token = c.tokens.token()
        with pytest.raises(ApiCallError) as caught:
            c.call("bad", "POST", "/connections", body={"name": "canary-account-key"}, ok=(201,))
    assert "GET /data/foundation/flowservice/connections" in caplog.text or (
        "POST /data/foundation/flowservice/connections" in caplog.text
    )
    for secret in (CANARY, "canary-account-key", token):
        assert secret not in caplog.text
        assert secret not in str(caught.value)


# economy ----------------------------------------------------------------------------


def test_batch_lookups_cost_one_call_per_hundred(
    client: PlatformClient, emulator: EmulatorApp
) -> None:
    ids = [create_account(client, f"a{i}") for i in range(250)]
    before = client.request_count
    found = client.get_by_ids("connections", ids + ids[:10], "read accounts")
    assert sorted(c["id"] for c in found) == sorted(ids)
    assert client.request_count - before == 3


# the Audiences API --------------------------------------------------------------------


class _StricterFilter(httpx.HTTPTransport):
    """Adds a filter the Audiences API refuses to every list request: the reader's own
    `name` filter is one the emulator always understands, and a platform may parse a query
    more strictly than the emulator does."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == AUDIENCES_PATH:
            request.url = request.url.copy_add_param("property", "name!==Gold")
        return super().handle_request(request)


def test_a_refused_audience_filter_is_an_error_not_no_such_audience(
    emulator: EmulatorApp, tmp_path: Path
) -> None:
    emulator.seed_audiences("prod", [{"id": str(uuid.uuid4()), "name": "Gold"}])
    manifest = tmp_path / "loyalty.yaml"
    manifest.write_text(
        "version: 1\nname: loyalty\ndestination:\n  type: amazon-kinesis\n  region: us-east-1\n"
        "  stream: s\n  credentials:\n    accessKeyId: ${env:K}\n    secretKey: ${env:S}\n"
        "audiences:\n  - name: Gold\n",
        encoding="utf-8",
    )
    loaded = load_and_check([manifest]).manifests
    with (
        serving(emulator) as url,
        PlatformClient(platform_target(url), ClientOptions(_StricterFilter(), FAST)) as client,
        pytest.raises(ApiCallError) as caught,
    ):
        resolve_audiences(AudienceReader(client), loaded, "prod")
    assert str(caught.value) == (
        "look up the manifests' audiences by name: GET /data/core/ups/audiences answered 400 "
        "NEBULA-100058-400: Unknown operator '!=='; a property filter is attribute==value "
        "(value: name!==Gold). The request was refused as invalid; the message above says why."
    )
