"""Azure Event Hubs, asked through azure-eventhub: does the namespace resolve, does it take
the SAS key, is the hub there.

The platform's policy needs Send and nothing else, so nothing is read: the check opens a
producer's sender link to the hub (what `create_batch` does to learn the largest message
the hub takes) and sends nothing. The link opens only when the namespace resolves, the key
is accepted for the hub, its policy has Send, and the hub exists. When it does not open,
the SDK's error says why as far as a Send-only policy can learn it; where two causes give
the same answer (a hub-level policy on a hub that does not exist is refused like a wrong
key), the finding names both and does not guess.

No Event Hubs service runs on a developer's machine: the tests of this module drive it at
the SDK's client boundary, with the SDK's own exception types.
"""

from __future__ import annotations

import re

from azure.core.credentials import AzureNamedKeyCredential
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import (
    AuthenticationError,
    ConnectError,
    ConnectionLostError,
    EventHubError,
    OperationTimeoutError,
)

from provisioner.destinations.eventhubs import EventHubsDestination
from provisioner.preflight.model import Deadline, Finding, Sent, Service

HOST_SUFFIX = "servicebus.windows.net"
RETRIES = 1
MESSAGE_LIMIT = 300
# How the operating system says a name does not resolve (glibc, musl, macOS, Windows).
_NOT_RESOLVED = re.compile(
    r"Name or service not known|nodename nor servname|getaddrinfo failed|"
    r"No address associated with hostname|Name does not resolve|"
    r"Temporary failure in name resolution",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"could not be found|not-found|Status code: 404", re.IGNORECASE)
_NO_SEND = re.compile(r"'Send' claim", re.IGNORECASE)
_REFUSED_KEY = re.compile(
    r"InvalidSignature|invalid signature|unauthorized|Status code: 401|expired", re.IGNORECASE
)


def host_of(destination: EventHubsDestination) -> str:
    return f"{destination.namespace}.{HOST_SUFFIX}"


def producer_for(destination: EventHubsDestination, deadline: Deadline) -> EventHubProducerClient:
    """A producer for the destination's hub with its SAS key (resolved before)."""
    keys = destination.credentials
    return EventHubProducerClient(
        fully_qualified_namespace=host_of(destination),
        eventhub_name=destination.eventHub,
        credential=AzureNamedKeyCredential(keys.sasKeyName.reveal(), keys.sasKey.reveal()),
        retry_total=RETRIES,
        auth_timeout=deadline.left(),
        user_agent="provisioner-check",
    )


def check_hub(
    destination: EventHubsDestination, deadline: Deadline, record: bytes | None = None
) -> Finding:
    """What the hub of `destination` says, with its SAS key."""
    hub, namespace = destination.eventHub, destination.namespace
    said = f"namespace {namespace} takes the SAS key with Send, and hub {hub} exists"
    try:
        with producer_for(destination, deadline) as producer:
            batch = producer.create_batch()  # opens the sender link; sends nothing
            if record is None:
                return Finding.reachable(said)
            batch.add(EventData(record))
            producer.send_batch(batch, timeout=deadline.left())
    except EventHubError as error:
        return refusal(error, destination)
    return Finding.reachable(f"{said}; test record accepted", Sent())


def refusal(error: EventHubError, destination: EventHubsDestination) -> Finding:
    """The finding for an error the SDK raised while opening the link or sending."""
    host, hub = host_of(destination), destination.eventHub
    text = f"{error.error or ''} {error.message}"
    if isinstance(error, OperationTimeoutError | ConnectionLostError) or "timed out" in text:
        return Finding.unreachable(f"no answer from {host} in time: {_first_line(error)}")
    if _NOT_RESOLVED.search(text):
        return Finding.unreachable(
            f"namespace {destination.namespace} does not resolve ({host} has no address): "
            "is the namespace right?"
        )
    if error.error == "socket-error":
        return Finding.unreachable(f"cannot connect to {host}: {_first_line(error)}")
    if _NOT_FOUND.search(text):
        return Finding.unreachable(f"namespace {destination.namespace} has no event hub {hub}")
    if _NO_SEND.search(text):
        return Finding.unreachable(
            f"the SAS key is accepted, but its policy lacks Send on hub {hub}, which the "
            "platform needs"
        )
    if isinstance(error, AuthenticationError) or _REFUSED_KEY.search(text):
        return Finding.unreachable(
            f"the SAS key is refused for hub {hub}: a wrong key or key name, or (for a policy "
            "defined on the hub itself) no such hub; cannot tell which with a Send-only policy"
        )
    kind = "cannot connect" if isinstance(error, ConnectError) else "the hub refused the check"
    return Finding.unreachable(f"{kind}: {_first_line(error)}")


def _first_line(error: EventHubError) -> str:
    line = str(error.message).strip().splitlines()[0] if str(error.message).strip() else ""
    text = line or type(error).__name__
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def describe(destination: EventHubsDestination) -> str:
    return f"event hub {destination.eventHub} in namespace {destination.namespace}"


SERVICE = Service(target_field="eventHub", describe=describe, checker=lambda: check_hub)
