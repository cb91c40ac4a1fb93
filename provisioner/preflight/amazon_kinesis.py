"""Amazon Kinesis, asked through boto3: do the keys work in the region, is the stream there
and ACTIVE, and (on request) does it take a record.

The one read is `ListStreams` (its `StreamSummaries`, every page): it is the only read in
the minimal policy Adobe asks for (`kinesis:ListStreams`, `kinesis:PutRecord`,
`kinesis:PutRecords`), so a key the platform can use can always answer it, and a key that
cannot is one the platform cannot use either. Any other read is a bonus: denied, it makes
the answer "cannot tell", never a failure. Endpoints are boto3's own choice, so the SDK's
settings (`AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL`) select a private endpoint or a
local one, with nothing of ours.

Manifests that share an account and a region share one listing per run: `ListStreams` is
limited to a few calls a second per account.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from provisioner.destinations.kinesis import KinesisDestination
from provisioner.preflight.amazon_kinesis_answers import (
    code_of,
    no_answer,
    partition_regions,
    refused,
    unknown_region,
)
from provisioner.preflight.model import Checker, Deadline, Finding, Sent, Service
from provisioner.preflight.record import PARTITION_KEY

PAGE_LIMIT = 100
MAX_PAGES = 200  # 20,000 streams: past this, a listing that never ends is the service's bug
ATTEMPTS = 3  # botocore's standard retries: throttling (ListStreams allows 5 calls/s) and 5xx
SCAN_WORKERS = 8
# A stream takes records while it is ACTIVE, and while UPDATING (resharding, retention or
# encryption changes); not while CREATING or DELETING.
WRITABLE = frozenset({"ACTIVE", "UPDATING"})

Listed = dict[str, str | None]  # stream name -> its status (None: listed by name only)


def session_for(access_key_id: str, secret_key: str) -> Any:
    """A boto3 session with these keys: they go to boto3 and nowhere else, and a shared
    credentials file or an instance role is never used instead (explicit keys come first
    in boto3's chain)."""
    return boto3.session.Session(aws_access_key_id=access_key_id, aws_secret_access_key=secret_key)


def client_for(session: Any, region: str, deadline: Deadline) -> Any:
    """A Kinesis client for `region`, its timeouts within `deadline`."""
    left = deadline.left()
    config = Config(
        connect_timeout=min(left, 10.0),
        read_timeout=left,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        user_agent_extra="provisioner-check",
    )
    return session.client("kinesis", region_name=region, config=config)


def list_streams(client: Any) -> Listed:
    """Every stream `ListStreams` shows, page after page, with its status when the answer
    has `StreamSummaries` (older endpoints list names only)."""
    listed: Listed = {}
    params: dict[str, Any] = {"Limit": PAGE_LIMIT}
    for _ in range(MAX_PAGES):
        page = client.list_streams(**params)
        summaries = page.get("StreamSummaries") or []
        for summary in summaries:
            listed[str(summary["StreamName"])] = str(summary.get("StreamStatus") or "") or None
        names = [str(n) for n in page.get("StreamNames") or []]
        for name in names:
            listed.setdefault(name, None)
        if not page.get("HasMoreStreams"):
            break
        token = page.get("NextToken")
        last = names[-1:] or [str(s["StreamName"]) for s in summaries[-1:]]
        if token:
            params = {"Limit": PAGE_LIMIT, "NextToken": token}
        elif last:
            params = {"Limit": PAGE_LIMIT, "ExclusiveStartStreamName": last[0]}
        else:
            break
    return listed


def put_records(
    client: Any, stream: str, records: Iterable[bytes], partition_keys: Iterable[str] = ()
) -> list[Sent | str]:
    """Write `records` with one `PutRecords`: for each, where it landed, or the stream's
    reason for refusing it (`ErrorCode: ErrorMessage`). Each record has its partition key
    from `partition_keys`, in order (the test record's key for those it does not cover)."""
    keys = iter(partition_keys)
    entries = [{"Data": data, "PartitionKey": next(keys, PARTITION_KEY)} for data in records]
    answer = client.put_records(StreamName=stream, Records=entries)
    results: list[Sent | str] = []
    for entry in answer.get("Records") or []:
        if entry.get("ErrorCode"):
            results.append(f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}".strip())
        else:
            results.append(Sent(str(entry.get("SequenceNumber")), entry.get("ShardId")))
    return results


class Listings:
    """One `ListStreams` listing per account and region in a run, shared by the manifests
    that use them: the first asks, the others wait for its answer (or its error)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, ...], Future[Listed]] = {}

    def get(self, key: tuple[str, ...], read: Callable[[], Listed]) -> Listed:
        with self._lock:
            future = self._found.get(key)
            mine = future is None
            if future is None:
                future = self._found[key] = Future()
        if mine:
            try:
                future.set_result(read())
            except Exception as error:
                future.set_exception(error)
        return future.result()


def check_stream(
    destination: KinesisDestination,
    deadline: Deadline,
    record: bytes | None = None,
    listings: Listings | None = None,
) -> Finding:
    """What the stream of `destination` says, with its credentials (resolved before)."""
    region, stream = destination.region, destination.stream
    keys = destination.credentials
    try:
        session = session_for(keys.accessKeyId.reveal(), keys.secretKey.reveal())
        client = client_for(session, region, deadline)
        key = (region, str(keys.accessKeyId), str(keys.secretKey))
        listed = (listings or Listings()).get(key, lambda: list_streams(client))
    except ClientError as error:
        return refused(error, region, "kinesis:ListStreams") or no_answer(error, region, None)
    except BotoCoreError as error:
        return no_answer(error, region, _endpoint(error))
    if stream not in listed:
        return _missing(stream, region, listed, session, deadline)
    status = listed[stream] or _described_status(client, stream)
    if status is None:
        return Finding.cannot_tell(
            f"stream {stream} exists in {region}; its state cannot be read "
            "(ListStreams gave no status and DescribeStreamSummary is not allowed: the "
            "platform's minimal policy does not need it)"
        )
    if status not in WRITABLE:
        return _not_writable(stream, region, status)
    said = f"stream {stream} is {status} in {region}"
    if status == "UPDATING":
        said += " (being changed; it takes records meanwhile)"
    if record is None:
        return Finding.reachable(said)
    return _send(client, stream, region, record, said)


def _endpoint(error: BotoCoreError) -> str | None:
    return getattr(error, "kwargs", {}).get("endpoint_url")


def _described_status(client: Any, stream: str) -> str | None:
    """The stream's status from `DescribeStreamSummary`, None when it is not allowed (or
    fails otherwise: it is a bonus read, never a reason to fail)."""
    try:
        summary = client.describe_stream_summary(StreamName=stream)
    except (ClientError, BotoCoreError):
        return None
    return str(summary.get("StreamDescriptionSummary", {}).get("StreamStatus") or "") or None


def _not_writable(stream: str, region: str, status: str) -> Finding:
    if status == "CREATING":
        why = "it is still being created and takes no records yet; check again once ACTIVE"
    elif status == "DELETING":
        why = "it is being deleted"
    else:
        why = "it takes records only when ACTIVE or UPDATING"
    return Finding.unreachable(f"stream {stream} is {status} in {region}: {why}")


def _send(client: Any, stream: str, region: str, record: bytes, said: str) -> Finding:
    try:
        results = put_records(client, stream, [record])
    except ClientError as error:
        return refused(error, region, "kinesis:PutRecords") or Finding.unreachable(
            f"{said}, but the test record was not written: {code_of(error)}"
        )
    except BotoCoreError as error:
        return Finding.unreachable(f"{said}, but the test record was not written: {error}")
    result = results[0] if results else "no answer for the record"
    if isinstance(result, str):
        return Finding.unreachable(f"{said}, but it refused the test record: {result}")
    return Finding.reachable(f"{said}; {result.words()}", result)


def _missing(stream: str, region: str, listed: Listed, session: Any, deadline: Deadline) -> Finding:
    """No such stream in the region: name the similar ones there, else the regions where a
    stream of that name is (a wrong region), else say the region has none at all."""
    similar = difflib.get_close_matches(stream, list(listed), n=3, cutoff=0.6)
    if similar:
        return Finding.unreachable(
            f"no stream {stream} in {region}; similar names there: {', '.join(similar)}"
        )
    elsewhere = regions_with(stream, region, session, deadline)
    if elsewhere:
        return Finding.unreachable(
            f"no stream {stream} in {region}, but there is one in {', '.join(elsewhere)}: "
            "is the region right?"
        )
    unknown = unknown_region(region)
    if unknown:
        return Finding.unreachable(f"no stream {stream} in {region}: {unknown}")
    there = f"{len(listed)} other stream(s)" if listed else "no streams at all"
    return Finding.unreachable(f"no stream {stream} in {region} ({there} there for these keys)")


def regions_with(stream: str, region: str, session: Any, deadline: Deadline) -> list[str]:
    """The other regions of `region`'s partition where these keys list a stream named
    `stream`, asked concurrently within `deadline`; what does not answer in time, or
    refuses (a region not enabled for the account), is left out."""
    others = [r for r in partition_regions(region) if r != region]
    if not others or deadline.passed:
        return []
    clients = {r: client_for(session, r, deadline) for r in others}

    def has_it(name: str) -> bool:
        try:
            return stream in list_streams(clients[name])
        except (ClientError, BotoCoreError):
            return False

    pool = ThreadPoolExecutor(max_workers=SCAN_WORKERS)
    asked = {r: pool.submit(has_it, r) for r in others}
    wait_for(list(asked.values()), timeout=deadline.left(0))
    pool.shutdown(wait=False, cancel_futures=True)
    return sorted(r for r, f in asked.items() if f.done() and not f.cancelled() and f.result())


def describe(destination: KinesisDestination) -> str:
    return f"stream {destination.stream} in {destination.region}"


def new_checker() -> Checker:
    """The check for one run: its manifests share one listing per account and region."""
    listings = Listings()

    def check(destination: KinesisDestination, deadline: Deadline, record: bytes | None) -> Finding:
        return check_stream(destination, deadline, record, listings)

    return check


SERVICE = Service(target_field="stream", describe=describe, checker=new_checker)
