"""What the tests of `provisioner check` share: a Kinesis endpoint on loopback (moto's server
mode), a server of recorded Kinesis answers (for what moto does not do: a stream still being
created, the JSON errors real Kinesis sends), an Event Hubs producer that answers at the
SDK's client boundary, and destinations with resolved credentials.

boto3 is never modified: the endpoint is chosen with the SDK's own `AWS_ENDPOINT_URL_KINESIS`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped]
import httpx
from azure.eventhub import EventDataBatch
from azure.eventhub.exceptions import EventHubError
from moto.server import ThreadedMotoServer

from provisioner.destinations.eventhubs import EventHubsDestination
from provisioner.destinations.kinesis import KinesisDestination
from provisioner.fields.secrets import SecretBoundaries

ACCOUNT = "123456789012"
# Canary values: a test fails if one of them is ever printed.
KEYS = {"AWS_KEY_ID": "AKIAEXAMPLECANARY0001", "AWS_SECRET": "aws-secret-canary-77ab"}
SAS = {"SAS_NAME": "send-policy-canary", "SAS_KEY": "sas-secret-canary-19cd"}
SECRETS = [*KEYS.values(), *SAS.values()]
E = TypeVar("E", bound=EventHubError)
# Where the SDK finds no profile, region or endpoint of the machine's own.
HERMETIC_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoKinesis:
    """moto's server mode on loopback: a real HTTP endpoint speaking Kinesis (and IAM)."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every stream, user and key (moto's state is the process's)."""
        httpx.post(f"{self.url}/moto-api/reset").raise_for_status()

    def client(self, service: str = "kinesis", region: str = "us-east-1") -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="AKIASETUP",
            aws_secret_access_key="setup",
        )

    def create_stream(self, name: str, region: str = "us-east-1", shards: int = 1) -> None:
        self.client(region=region).create_stream(StreamName=name, ShardCount=shards)

    def records(self, stream: str, region: str = "us-east-1") -> list[bytes]:
        """Every record in the stream's shards, read from the oldest."""
        kinesis = self.client(region=region)
        found: list[bytes] = []
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            found += [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
        return found

    def user_with_policy(self, user: str, actions: list[str]) -> dict[str, str]:
        """An IAM user allowed `actions` on every resource; its keys, as the variables the
        manifests reference (AWS_KEY_ID, AWS_SECRET)."""
        iam = self.client("iam")
        iam.create_user(UserName=user)
        statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
        document = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return {"AWS_KEY_ID": str(key["AccessKeyId"]), "AWS_SECRET": str(key["SecretAccessKey"])}

    @contextlib.contextmanager
    def enforcing_iam(self) -> Iterator[None]:
        """Every request authenticated and authorised against moto's IAM while inside."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()


@dataclass
class Recorded:
    """A server of recorded Kinesis answers: each operation (`ListStreams`) answers with the
    next of its answers (the last one again once they run out), after `delay` seconds."""

    answers: dict[str, list[tuple[int, dict[str, Any]]]]
    delay: float = 0.0
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.asked.append((operation, body))
        queue = self.answers.get(operation)
        if not queue:
            return 400, {"__type": "UnknownOperationException", "message": operation}
        return queue.pop(0) if len(queue) > 1 else queue[0]


@contextlib.contextmanager
def recorded_kinesis(
    answers: Mapping[str, list[tuple[int, dict[str, Any]]]], delay: float = 0.0
) -> Iterator[Recorded]:
    """`Recorded` served on loopback HTTP; its `url` is the Kinesis endpoint to use."""
    recorded = Recorded({k: list(v) for k, v in answers.items()}, delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
            status, answer = recorded.answer(operation, body)
            time.sleep(recorded.delay)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()


def summary(name: str, status: str, region: str = "us-east-1") -> dict[str, Any]:
    """A `StreamSummaries` entry as Kinesis writes it."""
    return {
        "StreamName": name,
        "StreamARN": f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{name}",
        "StreamStatus": status,
        "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
        "StreamCreationTimestamp": 1.7e9,
    }


def error(kind: str, message: str) -> tuple[int, dict[str, Any]]:
    """An error as Kinesis sends it (JSON 1.1: `__type` and `message`, status 400)."""
    return 400, {"__type": kind, "message": message}


def kinesis_destination(
    stream: str = "orders",
    region: str = "us-east-1",
    keys: Mapping[str, str] = KEYS,
    root: Path = Path("/"),
) -> KinesisDestination:
    """A Kinesis destination whose credentials are resolved from `keys`."""
    destination = KinesisDestination.model_validate(
        {
            "type": "amazon-kinesis",
            "region": region,
            "stream": stream,
            "credentials": {"accessKeyId": "${env:AWS_KEY_ID}", "secretKey": "${env:AWS_SECRET}"},
        }
    )
    _resolve(destination.credentials, keys, root)
    return destination


def event_hubs_destination(
    hub: str = "orders", namespace: str = "contoso-events", keys: Mapping[str, str] = SAS
) -> EventHubsDestination:
    destination = EventHubsDestination.model_validate(
        {
            "type": "azure-event-hubs",
            "namespace": namespace,
            "eventHub": hub,
            "credentials": {"sasKeyName": "${env:SAS_NAME}", "sasKey": "${env:SAS_KEY}"},
        }
    )
    _resolve(destination.credentials, keys, Path("/"))
    return destination


def _resolve(credentials: Any, keys: Mapping[str, str], root: Path) -> None:
    boundaries = SecretBoundaries(root)
    for _, ref in credentials:
        ref.resolve(root, dict(keys), boundaries)


def kinesis_manifest(name: str, stream: str, region: str = "us-east-1", extra: str = "") -> str:
    return (
        f"version: 1\nname: {name}\ndestination:\n  type: amazon-kinesis\n"
        f"  region: {region}\n  stream: {stream}\n  credentials:\n"
        "    accessKeyId: ${env:AWS_KEY_ID}\n    secretKey: ${env:AWS_SECRET}\n" + extra
    )


def event_hubs_manifest(name: str, hub: str = "orders") -> str:
    return (
        f"version: 1\nname: {name}\ndestination:\n  type: azure-event-hubs\n"
        f"  namespace: contoso-events\n  eventHub: {hub}\n  credentials:\n"
        "    sasKeyName: ${env:SAS_NAME}\n    sasKey: ${env:SAS_KEY}\n"
    )


class FakeProducer:
    """`EventHubProducerClient` as the check uses it: made with the namespace, hub and
    credential; `create_batch` opens the sender link (here: raises `fails`, if set);
    `send_batch` sends (here: keeps the batch)."""

    made: list[FakeProducer] = []
    fails: EventHubError | None = None
    send_fails: EventHubError | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.sent: list[EventDataBatch] = []
        self.closed = False
        FakeProducer.made.append(self)

    def __enter__(self) -> FakeProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def create_batch(self) -> EventDataBatch:
        if FakeProducer.fails is not None:
            raise FakeProducer.fails
        return EventDataBatch(max_size_in_bytes=1024 * 1024)

    def send_batch(self, batch: EventDataBatch, timeout: float | None = None) -> None:
        if FakeProducer.send_fails is not None:
            raise FakeProducer.send_fails
        self.sent.append(batch)


def sdk_error(kind: type[E], amqp: Exception) -> E:
    """The SDK's exception for an AMQP error, made as its transport makes it (which passes
    the AMQP error where its annotations say a list of details)."""
    details: Any = amqp
    return kind(str(amqp), details)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def shows_no_secret(self) -> bool:
        return not any(secret in self.out + self.err for secret in SECRETS)


def write(root: Path, name: str, text: str) -> Path:
    path = root / "manifests" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(
    root: Path,
    *args: str,
    endpoint: str = "",
    env: Mapping[str, str] | None = None,
    prelude: str = "",
) -> Ran:
    """`provisioner ARGS` in a subprocess at `root`, with the keys in its environment;
    `prelude` runs first (to take a module away)."""
    environ = {**os.environ, **HERMETIC_AWS, **KEYS, **SAS, **(env or {})}
    if endpoint:
        environ["AWS_ENDPOINT_URL_KINESIS"] = endpoint
    code = f"{prelude}\nimport sys\nfrom provisioner.cli import main\nmain(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)
