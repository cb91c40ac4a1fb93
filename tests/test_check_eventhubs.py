"""`check` against Azure Event Hubs, at the SDK's client boundary.

No Event Hubs service can run here (no emulator installs on a bare machine, and the tests
reach no network), so the producer client class is replaced by one that answers as the SDK
does: its errors are the SDK's own exception types, made from the AMQP errors the service
sends the way the SDK's transport makes them (`ConnectError(str(amqp_error), amqp_error)`);
its batches are the SDK's own `EventDataBatch`.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.eventhub import EventData
from azure.eventhub._pyamqp.error import (
    AMQPConnectionError,
    AMQPLinkError,
    ErrorCondition,
    TokenAuthFailure,
)
from azure.eventhub.exceptions import (
    AuthenticationError,
    ConnectError,
    EventHubError,
    OperationTimeoutError,
)

from provisioner.preflight import azure_event_hubs as eventhubs
from provisioner.preflight.azure_event_hubs import check_hub
from provisioner.preflight.model import Deadline
from tests.check_support import SAS, FakeProducer, event_hubs_destination, sdk_error


@pytest.fixture(autouse=True)
def producer(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.made, FakeProducer.fails, FakeProducer.send_fails = [], None, None
    monkeypatch.setattr(eventhubs, "EventHubProducerClient", FakeProducer)
    return FakeProducer


def soon() -> Deadline:
    return Deadline.after(10)


def token_refused(status: int, description: bytes) -> AuthenticationError:
    """What the SDK raises when the service refuses the SAS token."""
    failure: Any = TokenAuthFailure  # not annotated in the SDK
    return sdk_error(AuthenticationError, failure(status, description))


def link_error(condition: ErrorCondition, description: str) -> ConnectError:
    """What the SDK raises when the service refuses the sender link."""
    return sdk_error(ConnectError, AMQPLinkError(condition, description=description))


def test_an_open_link_is_reachable_and_sends_nothing(producer: type[FakeProducer]) -> None:
    finding = check_hub(event_hubs_destination(), soon())
    assert finding.outcome == "reachable"
    assert finding.message == (
        "namespace contoso-events takes the SAS key with Send, and hub orders exists"
    )
    (made,) = producer.made
    assert made.kwargs["fully_qualified_namespace"] == "contoso-events.servicebus.windows.net"
    assert made.kwargs["eventhub_name"] == "orders"
    credential = made.kwargs["credential"]
    assert isinstance(credential, AzureNamedKeyCredential)
    assert credential.named_key == (SAS["SAS_NAME"], SAS["SAS_KEY"])
    assert made.sent == [] and made.closed


def test_a_test_record_is_sent_as_one_event(producer: type[FakeProducer]) -> None:
    record = {"identityMap": {"ecid": [{"id": "x"}]}, "provisionerCheck": {"test": True}}
    finding = check_hub(event_hubs_destination(), soon(), json.dumps(record).encode())
    assert finding.outcome == "reachable" and finding.sent is not None
    assert finding.message.endswith("; test record accepted")
    ((batch,),) = [p.sent for p in producer.made]
    (event,) = batch._internal_events
    assert isinstance(event, EventData)
    assert json.loads(event.body_as_str()) == record


def test_a_namespace_that_does_not_resolve(producer: type[FakeProducer]) -> None:
    cause = socket.gaierror(-2, "Name or service not known")
    amqp = AMQPConnectionError(
        ErrorCondition.SocketError,
        description=f"Failed to initiate the connection due to exception: {cause}",
        error=cause,
    )
    producer.fails = sdk_error(ConnectError, amqp)
    finding = check_hub(event_hubs_destination(namespace="contoso-evnts"), soon())
    assert finding.outcome == "unreachable"
    assert finding.message == (
        "namespace contoso-evnts does not resolve (contoso-evnts.servicebus.windows.net has "
        "no address): is the namespace right?"
    )


def test_a_connection_refused(producer: type[FakeProducer]) -> None:
    amqp = AMQPConnectionError(
        ErrorCondition.SocketError,
        description="Failed to initiate the connection due to exception: [Errno 111] "
        "Connection refused",
    )
    producer.fails = sdk_error(ConnectError, amqp)
    finding = check_hub(event_hubs_destination(), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("cannot connect to contoso-events.servicebus.windows.net:")
    assert "Connection refused" in finding.message


def test_a_missing_hub(producer: type[FakeProducer]) -> None:
    producer.fails = link_error(
        ErrorCondition.NotFound,
        "The messaging entity 'sb://contoso-events.servicebus.windows.net/ordres' could not be "
        "found. To know more visit https://aka.ms/sbResourceMgrExceptions.",
    )
    finding = check_hub(event_hubs_destination(hub="ordres"), soon())
    assert finding.outcome == "unreachable"
    assert finding.message == "namespace contoso-events has no event hub ordres"


def test_a_refused_key_names_both_causes_and_does_not_guess(producer: type[FakeProducer]) -> None:
    producer.fails = token_refused(401, b"InvalidSignature: The token has an invalid signature.")
    finding = check_hub(event_hubs_destination(), soon())
    assert finding.outcome == "unreachable"
    assert finding.message == (
        "the SAS key is refused for hub orders: a wrong key or key name, or (for a policy "
        "defined on the hub itself) no such hub; cannot tell which with a Send-only policy"
    )


def test_a_policy_without_send(producer: type[FakeProducer]) -> None:
    producer.fails = link_error(
        ErrorCondition.UnauthorizedAccess,
        "Unauthorized access. 'Send' claim(s) are required to perform this operation.",
    )
    finding = check_hub(event_hubs_destination(), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("the SAS key is accepted, but its policy lacks Send")


def test_a_timeout(producer: type[FakeProducer]) -> None:
    producer.fails = OperationTimeoutError("Send operation timed out")
    finding = check_hub(event_hubs_destination(), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("no answer from contoso-events.servicebus.windows.net")


def test_a_refused_send_after_the_link_opened(producer: type[FakeProducer]) -> None:
    producer.send_fails = EventHubError("the service is busy: ServerBusy")
    finding = check_hub(event_hubs_destination(), soon(), b"{}")
    assert finding.outcome == "unreachable"
    assert finding.message == "the hub refused the check: the service is busy: ServerBusy"


def test_no_finding_quotes_the_key(producer: type[FakeProducer]) -> None:
    producer.fails = token_refused(401, f"bad token for key {SAS['SAS_KEY']}".encode())
    finding = check_hub(event_hubs_destination(), soon())
    assert SAS["SAS_KEY"] not in finding.message
