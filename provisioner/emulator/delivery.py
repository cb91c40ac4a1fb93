"""Delivering the emulator's runs to a real Kinesis stream (`serve --deliver`): each
successful run's exported records are written to the stream its dataflow targets, with the
account's keys, through the same boto3 code `provisioner check` uses, so a pipeline can be
tested end to end against a local Kinesis (the endpoint is boto3's own choice: the SDK's
settings, such as `AWS_ENDPOINT_URL_KINESIS`, select it).

The emulator's data holds digests of secrets, never their values; the store is asked to
hold, in this process's memory only, the secrets written while it serves. So delivery works
for the accounts created or updated since the emulator started; a run of any other
dataflow is recorded as usual and a line says why it was not delivered. A delivery that
fails (no such stream, a refused key, no answer) fails the run as a destination's failure
does (`run_faults.py`: `CONNECTOR-1001-500`), so `provisioner status` reports it.

The one module of the emulator that uses the tool's code, and only its destination SDK
code (`provisioner.preflight`), never its platform code: what the emulator answers stays
its own. Imported only by `serve --deliver`; boto3 (the `check` extra) only once delivering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.emulator.catalog import KINESIS_SPEC_ID
from provisioner.emulator.run_faults import RunFault
from provisioner.emulator.store import Resource, Store
from provisioner.preflight.model import Deadline
from provisioner.preflight.record import encoded
from provisioner.preflight.run import MissingExtra, services_for

__all__ = ["KinesisDelivery", "MissingExtra", "kinesis_delivery"]

# Within the run's transaction, which holds the emulator's data meanwhile: kept short.
DELIVERY_TIMEOUT_S = 10.0
BATCH = 500  # PutRecords takes at most 500 records a call
FALLBACK_PARTITION_KEY = "provisioner-emulator"
MISSING_STREAM = "ResourceNotFoundException"

Failure = tuple[RunFault, str]  # the fault the run records, and why (for the log line)


def kinesis_delivery() -> type[KinesisDelivery]:
    """What delivers runs to Kinesis; MissingExtra, with the install hint `check` gives,
    when boto3 is not installed (asked before the emulator opens anything)."""
    services_for({"amazon-kinesis"})
    return KinesisDelivery


class NotDeliverable(Exception):
    """A run that cannot be delivered (no keys held, not a Kinesis target): said, and the
    run is recorded as the emulator records any run."""


@dataclass(frozen=True)
class Stream:
    """Where a dataflow's records go, and the keys to sign with."""

    target_id: str
    name: str
    region: str
    access_key_id: str
    secret_key: str

    def hidden(self, text: str) -> str:
        """`text` without the secret key, should a service's message ever quote it."""
        return text.replace(self.secret_key, "***") if self.secret_key else text


class KinesisDelivery:
    """The `Runs.deliver` of an emulator that delivers: writes a run's records to the
    dataflow's stream; the target connection and fault when that failed."""

    def __init__(
        self, store: Store, say: Callable[[str], None], timeout: float = DELIVERY_TIMEOUT_S
    ) -> None:
        self.store = store
        self.say = say
        self.timeout = timeout
        store.hold_secrets()

    def __call__(
        self, sandbox: str, flow: Resource, records: list[dict[str, Any]]
    ) -> tuple[str, RunFault] | None:
        named = f"dataflow '{flow.get('name', '')}' ({flow['id']}, sandbox {sandbox})"
        try:
            stream = self._stream(sandbox, flow)
        except NotDeliverable as why:
            self.say(f"not delivered: {named}: {why}")
            return None
        failure = self._put(stream, records)
        if failure is not None:
            fault, reason = failure
            self.say(f"delivery failed: {named}: {stream.hidden(reason)}; the run fails")
            return stream.target_id, fault
        self.say(
            f"delivered: {named}: {len(records)} record(s) delivered to stream {stream.name} "
            f"in {stream.region}"
        )
        return None

    def _stream(self, sandbox: str, flow: Resource) -> Stream:
        target = self._kinesis_target(sandbox, flow)
        account = self.store.get("connections", sandbox, str(target.get("baseConnectionId")))
        if account is None:
            raise NotDeliverable("its account (base connection) is gone")
        keys = (account.get("auth") or {}).get("params") or {}
        params = target.get("params") or {}
        return Stream(
            target_id=str(target["id"]),
            name=str(params.get("stream", "")),
            region=str(params.get("region") or keys.get("region") or ""),
            access_key_id=str(keys.get("accessKeyId", "")),
            secret_key=self._held_secret(account, keys),
        )

    def _kinesis_target(self, sandbox: str, flow: Resource) -> Resource:
        target_ids = list(flow.get("targetConnectionIds") or [])
        target = self.store.get("targetConnections", sandbox, target_ids[0]) if target_ids else None
        if target is None:
            raise NotDeliverable("it has no target connection")
        if (target.get("connectionSpec") or {}).get("id") != KINESIS_SPEC_ID:
            raise NotDeliverable("the emulator delivers to Amazon Kinesis streams only")
        return target

    def _held_secret(self, account: Resource, keys: dict[str, Any]) -> str:
        secret = self.store.held_secret(str(keys.get("secretKey", "")))
        if secret is None:
            raise NotDeliverable(
                f"this emulator has not received the secret key of account "
                f"'{account.get('name', '')}' ({account['id']}) since it started (its data "
                "keeps digests only); create or update the account while it serves"
            )
        return secret

    def _put(self, stream: Stream, records: list[dict[str, Any]]) -> Failure | None:
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        from provisioner.preflight import amazon_kinesis as kinesis
        from provisioner.preflight.amazon_kinesis_answers import no_answer

        deadline = Deadline.after(self.timeout)
        try:
            session = kinesis.session_for(stream.access_key_id, stream.secret_key)
            client = kinesis.client_for(session, stream.region, deadline)
            for batch in _batches(records):
                data = [encoded(record) for record in batch]
                keys = [_partition_key(record) for record in batch]
                refusals = [
                    r
                    for r in kinesis.put_records(client, stream.name, data, keys)
                    if isinstance(r, str)
                ]
                if refusals:
                    return "unreachable", (
                        f"stream {stream.name} refused {len(refusals)} record(s): {refusals[0]}"
                    )
        except ClientError as error:
            return _client_failure(error, stream)
        except BotoCoreError as error:
            return "unreachable", no_answer(error, stream.region, None).message
        return None


def _client_failure(error: Any, stream: Stream) -> Failure:
    """What an error answer (botocore's ClientError) means for the run: refused keys or
    action, else unreachable."""
    from provisioner.preflight.amazon_kinesis_answers import code_of, no_answer, refused

    rejected = refused(error, stream.region, "kinesis:PutRecords")
    if rejected is not None:
        return "rejected", rejected.message
    if code_of(error) == MISSING_STREAM:
        return "unreachable", f"no stream {stream.name} in {stream.region}"
    return "unreachable", no_answer(error, stream.region, None).message


def _batches(records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), BATCH):
        yield records[start : start + BATCH]


def _partition_key(record: dict[str, Any]) -> str:
    """The record's first identity (its ECID): one profile's records share a shard."""
    for identities in (record.get("identityMap") or {}).values():
        for identity in identities or []:
            if isinstance(identity, dict) and identity.get("id"):
                return str(identity["id"])[:256]  # Kinesis's limit on a partition key
    return FALLBACK_PARTITION_KEY
