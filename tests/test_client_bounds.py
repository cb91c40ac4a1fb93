"""The client's bounds: one retry policy for the token too, caps, checked shapes, secrets."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from urllib.parse import quote, quote_plus

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import serving
from provisioner.errors import TargetError
from provisioner.platform import client as client_module
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.failures import (
    AnswerLimitError,
    MalformedAnswerError,
    RequestNotSentError,
)
from provisioner.platform.redact import REDACTED, Redactor
from tests.emulator_support import kinesis_account, platform_target

FAST = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.002)
ISSUED = "issued-token-7c2d"
TOKEN = {"access_token": ISSUED, "expires_in": 3600}


def mock_client(handler: httpx.MockTransport, **options: object) -> PlatformClient:
    target = platform_target("https://platform.example")
    made = ClientOptions(handler, FAST, sleep=lambda _: None, **options)  # type: ignore[arg-type]
    return PlatformClient(target, made)


def test_the_token_exchange_is_retried_by_the_same_policy() -> None:
    answers = iter([503, 429, 200])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/ims/token/v3":
            status = next(answers)
            return httpx.Response(status, json=TOKEN if status == 200 else {"error": "busy"})
        return httpx.Response(200, json={"items": []})

    with mock_client(httpx.MockTransport(handler)) as client:
        assert client.list_all("flows", [], "read") == []
    assert seen.count("/ims/token/v3") == 3


def test_a_token_from_ims_is_redacted_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(400, json={"title": f"bad token {ISSUED}"})

    redactor = Redactor()
    with mock_client(httpx.MockTransport(handler), redactor=redactor) as client:
        with pytest.raises(Exception) as caught:
            client.list_all("flows", [], "read")
        assert ISSUED not in str(caught.value)
        assert redactor(f"x {ISSUED} y") == f"x {REDACTED} y"


def test_secrets_are_redacted_in_every_escaped_form() -> None:
    redactor = Redactor()
    secret = 'p@ss "word"/+é\\x'
    redactor.add(secret)
    for form in (secret, json.dumps(secret), quote(secret, safe=""), quote_plus(secret)):
        assert secret not in redactor(form)
        assert REDACTED in redactor(form)
    assert REDACTED in redactor(repr(secret)) and REDACTED in redactor(ascii(secret))


def test_endless_pages_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 3)
    pages = iter(range(10))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json=TOKEN)
        link = {"next": {"href": f"/flows?continuationToken={next(pages)}"}}
        return httpx.Response(200, json={"items": [], "_links": link})

    with (
        mock_client(httpx.MockTransport(handler)) as client,
        pytest.raises(MalformedAnswerError, match="more than 3 pages"),
    ):
        client.list_all("flows", [], "read")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"etag": '"1"'}, "an object without an id"),
        ({"id": 7}, "an object without an id"),
        ([], "JSON that is not an object"),
    ],
)
def test_a_create_answer_without_an_id_is_refused(body: object, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(201, json=body)

    with (
        mock_client(httpx.MockTransport(handler)) as client,
        pytest.raises(MalformedAnswerError, match=message) as caught,
    ):
        client.create("connections", kinesis_account(), "create account", lambda: None)
    assert str(caught.value).startswith("create account: POST /data/foundation/flowservice/")


def test_a_compressed_answer_is_capped_once_decoded() -> None:
    bomb = gzip.compress(b'{"items": [' + b" " * 4_000_000 + b"]}")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ims/token/v3":
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    with (
        mock_client(httpx.MockTransport(handler), max_answer_bytes=1_000_000) as client,
        pytest.raises(AnswerLimitError, match="larger than"),
    ):
        client.list_all("flows", [], "read")
    assert len(bomb) < 1_000_000


def test_a_header_value_that_cannot_be_sent_is_not_retried(emulator: EmulatorApp) -> None:
    with (
        serving(emulator) as url,
        PlatformClient(platform_target(url), ClientOptions(policy=FAST)) as client,
    ):
        client.tokens.token()
        before = client.request_count
        with pytest.raises(RequestNotSentError, match="nothing was sent") as caught:
            client.patch("connections", "x", [], '"etag"\r\nX-Injected: 1', "rename account")
        assert client.request_count - before <= 1
    assert "X-Injected" not in str(caught.value)


def test_the_deadline_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    target = platform_target("https://platform.example")
    monkeypatch.setenv("PROVISIONER_REQUEST_DEADLINE", "7.5")
    with PlatformClient(target) as client:
        assert client.deadline == 7.5
    with PlatformClient(target, ClientOptions(deadline=3)) as client:
        assert client.deadline == 3
    monkeypatch.setenv("PROVISIONER_REQUEST_DEADLINE", "-1")
    with pytest.raises(TargetError, match="PROVISIONER_REQUEST_DEADLINE"):
        PlatformClient(target)


def test_a_target_with_a_bad_header_value_cannot_make_a_client() -> None:
    target = replace(platform_target("https://platform.example"), access_token="t\n")
    with pytest.raises(TargetError, match="AEP_ACCESS_TOKEN contains a control character"):
        PlatformClient(target)
