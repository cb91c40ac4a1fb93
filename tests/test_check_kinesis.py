"""`check` against Kinesis: moto's server mode on loopback for what moto does (streams,
pages, IAM's keys and policies, records read back), and recorded answers of real Kinesis
for what it does not (a stream still being created, Kinesis's own JSON errors, a listing
without states). boto3 is unmodified; the endpoint is the SDK's AWS_ENDPOINT_URL_KINESIS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.manifest import Manifest
from provisioner.preflight import amazon_kinesis as kinesis
from provisioner.preflight.amazon_kinesis import Listings, check_stream
from provisioner.preflight.model import Deadline
from provisioner.preflight.record import TEST_MARKER, encoded, record_for
from tests.check_support import (
    HERMETIC_AWS,
    KEYS,
    MotoKinesis,
    error,
    kinesis_destination,
    recorded_kinesis,
    summary,
)

AUDIENCE = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"


@pytest.fixture(scope="module")
def server() -> Iterator[MotoKinesis]:
    moto = MotoKinesis()
    yield moto
    moto.stop()


@pytest.fixture
def moto(server: MotoKinesis, monkeypatch: pytest.MonkeyPatch) -> MotoKinesis:
    """The moto server, emptied, and boto3 pointed at it by the SDK's own variable."""
    server.reset()
    for name, value in HERMETIC_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", server.url)
    return server


def soon() -> Deadline:
    return Deadline.after(15)


def test_an_active_stream_is_reachable(moto: MotoKinesis) -> None:
    moto.create_stream("orders")
    finding = check_stream(kinesis_destination("orders"), soon())
    assert finding.outcome == "reachable"
    assert finding.message == "stream orders is ACTIVE in us-east-1"
    assert finding.sent is None
    assert moto.records("orders") == []  # read-only: nothing was written


def test_a_missing_stream_names_the_similar_ones(moto: MotoKinesis) -> None:
    for name in ("orders-prod", "orders-dev", "clicks"):
        moto.create_stream(name)
    finding = check_stream(kinesis_destination("orders-prd"), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("no stream orders-prd in us-east-1; similar names there:")
    assert "orders-prod" in finding.message and "clicks" not in finding.message


def test_a_stream_in_another_region_says_the_region_is_wrong(moto: MotoKinesis) -> None:
    moto.create_stream("orders", region="us-west-2")
    finding = check_stream(kinesis_destination("orders", region="eu-west-1"), soon())
    assert finding.outcome == "unreachable"
    assert finding.message == (
        "no stream orders in eu-west-1, but there is one in us-west-2: is the region right?"
    )


def test_a_region_without_streams_says_so(moto: MotoKinesis) -> None:
    finding = check_stream(kinesis_destination("orders", region="eu-west-1"), soon())
    assert finding.outcome == "unreachable"
    assert (
        finding.message == "no stream orders in eu-west-1 (no streams at all there for these keys)"
    )


def test_an_unknown_region_is_named_as_the_likely_reason(moto: MotoKinesis) -> None:
    finding = check_stream(kinesis_destination("orders", region="xx-nowhere-1"), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("xx-nowhere-1 is not a Kinesis region botocore knows;")


def test_every_page_of_the_listing_is_read(
    moto: MotoKinesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kinesis, "PAGE_LIMIT", 2)
    names = [f"stream-{i}" for i in range(5)]
    for name in names:
        moto.create_stream(name)
    client = kinesis.client_for(kinesis.session_for("a", "b"), "us-east-1", soon())
    assert sorted(kinesis.list_streams(client)) == names
    assert check_stream(kinesis_destination("stream-4"), soon()).outcome == "reachable"


def test_a_test_record_lands_in_the_stream_in_the_exported_shape(moto: MotoKinesis) -> None:
    moto.create_stream("orders")
    manifest = Manifest.model_validate(
        {
            "version": 1,
            "name": "orders-flow",
            "destination": kinesis_destination("orders").model_dump(),
            "audiences": [AUDIENCE],
            "attributes": ["person.email", "person.name.firstName"],
        }
    )
    finding = check_stream(kinesis_destination("orders"), soon(), encoded(record_for(manifest)))
    assert finding.outcome == "reachable" and finding.sent is not None
    assert finding.message.startswith("stream orders is ACTIVE in us-east-1; test record written")
    (data,) = moto.records("orders")
    record = json.loads(data)
    assert record["person"] == {
        "email": "provisioner check test value",
        "name": {"firstName": "provisioner check test value"},
    }
    (membership,) = record["segmentMembership"]["ups"].items()
    assert membership[0] == AUDIENCE and membership[1]["status"] == "realized"
    assert time.strptime(membership[1]["lastQualificationTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert record["identityMap"] == {"ecid": [{"id": "provisioner-check-test-record"}]}
    assert record[TEST_MARKER]["test"] is True
    assert record[TEST_MARKER]["dataflow"] == "orders-flow"
    assert finding.sent.sequence_number is not None and finding.sent.shard_id is not None
    assert finding.sent.sequence_number in finding.message


# The keys and policies of moto's IAM ---------------------------------------------------------


def test_an_unknown_access_key_is_rejected(moto: MotoKinesis) -> None:
    moto.create_stream("orders")
    with moto.enforcing_iam():
        finding = check_stream(kinesis_destination(keys=KEYS), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("the access key id is not accepted in us-east-1")


def test_a_wrong_secret_key_is_rejected(moto: MotoKinesis) -> None:
    moto.create_stream("orders")
    keys = {**moto.user_with_policy("writer", ["kinesis:*"]), "AWS_SECRET": "not-the-secret"}
    with moto.enforcing_iam():
        finding = check_stream(kinesis_destination(keys=keys), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("the secret key does not match the access key id")


def test_a_key_that_may_not_list_streams_is_denied(moto: MotoKinesis) -> None:
    moto.create_stream("orders")
    keys = moto.user_with_policy("writer", ["kinesis:PutRecord", "kinesis:PutRecords"])
    with moto.enforcing_iam():
        finding = check_stream(kinesis_destination(keys=keys), soon())
    assert finding.outcome == "unreachable"
    assert finding.message == (
        "the keys are accepted in us-east-1, but kinesis:ListStreams is denied; the platform "
        "needs kinesis:ListStreams, kinesis:PutRecord and kinesis:PutRecords"
    )


def test_adobes_minimal_policy_is_enough_and_a_record_without_put_is_denied(
    moto: MotoKinesis,
) -> None:
    moto.create_stream("orders")
    minimal = ["kinesis:ListStreams", "kinesis:PutRecord", "kinesis:PutRecords"]
    good = moto.user_with_policy("platform", minimal)
    lister = moto.user_with_policy("lister", minimal[:1])
    with moto.enforcing_iam():
        sent = check_stream(kinesis_destination(keys=good), soon(), b"{}")
        listed = check_stream(kinesis_destination(keys=lister), soon())
        refused = check_stream(kinesis_destination(keys=lister), soon(), b"{}")
    assert sent.outcome == "reachable" and sent.sent is not None
    assert listed.outcome == "reachable"
    assert refused.outcome == "unreachable"
    assert "kinesis:PutRecords is denied" in refused.message


# Recorded answers of real Kinesis ---------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in HERMETIC_AWS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_a_stream_being_created_says_so(aws_env: pytest.MonkeyPatch) -> None:
    answers = {"ListStreams": [(200, _listing(summary("orders", "CREATING")))]}
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon(), b"{}")
    assert finding.outcome == "unreachable"
    assert finding.message == (
        "stream orders is CREATING in us-east-1: it is still being created and takes no "
        "records yet; check again once ACTIVE"
    )
    assert [operation for operation, _ in recorded.asked] == ["ListStreams"]  # nothing sent


def test_a_stream_being_updated_still_takes_records(aws_env: pytest.MonkeyPatch) -> None:
    answers = {"ListStreams": [(200, _listing(summary("orders", "UPDATING")))]}
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon())
    assert finding.outcome == "reachable"
    assert "UPDATING" in finding.message and "takes records meanwhile" in finding.message


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("UnrecognizedClientException", "the access key id is not accepted in us-east-1"),
        ("InvalidSignatureException", "the secret key does not match the access key id"),
        ("AccessDeniedException", "the keys are accepted in us-east-1, but kinesis:ListStreams"),
        ("ExpiredTokenException", "the credentials have expired"),
    ],
)
def test_kinesis_own_errors_are_read(aws_env: pytest.MonkeyPatch, kind: str, said: str) -> None:
    answers = {"ListStreams": [error(kind, "as Kinesis says it")]}
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon())
    assert finding.outcome == "unreachable"
    assert finding.message.startswith(said)


def test_a_state_that_cannot_be_read_is_cannot_tell(aws_env: pytest.MonkeyPatch) -> None:
    denied = error("AccessDeniedException", "not authorized to perform: kinesis:Describe...")
    answers = {
        "ListStreams": [(200, {"StreamNames": ["orders"], "HasMoreStreams": False})],
        "DescribeStreamSummary": [denied],
    }
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon())
    assert finding.outcome == "cannot-tell"
    assert finding.message.startswith("stream orders exists in us-east-1; its state cannot")


def test_a_listing_of_names_only_is_completed_by_describe(aws_env: pytest.MonkeyPatch) -> None:
    described = {"StreamDescriptionSummary": {"StreamName": "orders", "StreamStatus": "ACTIVE"}}
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {
        "ListStreams": [(200, {"StreamNames": ["orders"], "HasMoreStreams": False})],
        "DescribeStreamSummary": [(200, described)],
    }
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon())
    assert finding.outcome == "reachable"


def test_pages_follow_the_next_token(aws_env: pytest.MonkeyPatch) -> None:
    first = {**_listing(summary("a", "ACTIVE")), "HasMoreStreams": True, "NextToken": "page-2"}
    answers = {"ListStreams": [(200, first), (200, _listing(summary("orders", "ACTIVE")))]}
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        finding = check_stream(kinesis_destination(), soon())
    assert finding.outcome == "reachable"
    assert [body.get("NextToken") for _, body in recorded.asked] == [None, "page-2"]


def test_manifests_of_one_account_share_one_listing(aws_env: pytest.MonkeyPatch) -> None:
    answers = {"ListStreams": [(200, _listing(summary("a", "ACTIVE"), summary("b", "ACTIVE")))]}
    listings = Listings()
    with recorded_kinesis(answers) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        found = [check_stream(kinesis_destination(s), soon(), None, listings) for s in "ab"]
        other_region = check_stream(kinesis_destination("a", "eu-west-1"), soon(), None, listings)
    assert [f.outcome for f in found] == ["reachable", "reachable"]
    assert other_region.outcome == "reachable"
    assert len(recorded.asked) == 2  # one per region, not one per manifest


def test_a_silent_endpoint_ends_within_the_deadline(aws_env: pytest.MonkeyPatch) -> None:
    answers = {"ListStreams": [(200, _listing(summary("orders", "ACTIVE")))]}
    with recorded_kinesis(answers, delay=3) as recorded:
        aws_env.setenv("AWS_ENDPOINT_URL_KINESIS", recorded.url)
        aws_env.setattr(kinesis, "ATTEMPTS", 1)
        began = time.monotonic()
        finding = check_stream(kinesis_destination(), Deadline.after(0.5))
    assert time.monotonic() - began < 2.5
    assert finding.outcome == "unreachable"
    assert finding.message.startswith("no answer from Kinesis in us-east-1")
    assert "timeout" in finding.message.lower() or "timed out" in finding.message.lower()


def _listing(*summaries: dict[str, Any]) -> dict[str, Any]:
    return {
        "StreamNames": [s["StreamName"] for s in summaries],
        "StreamSummaries": list(summaries),
        "HasMoreStreams": False,
    }
