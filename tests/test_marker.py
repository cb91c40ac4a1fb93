"""The ownership marker reads back every name as exactly itself, whatever it holds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.apply.requests import account_marker, applied_marker, target_marker
from provisioner.fields.common import NAME_PATTERN
from provisioner.fields.secrets import SecretRef
from provisioner.plan.accounts import recorded_references
from provisioner.state.desired import DesiredAccount
from provisioner.state.live import LiveState
from provisioner.state.managed import managed_state, nfc
from provisioner.state.marker import marker, read_marker
from tests.plan_fixtures import KINESIS, account_resource, flow_resource, target_resource

# Every printable character: no control character (a manifest refuses them) and no lone
# surrogate (not text); `;`, `=`, `%`, spaces, quotes and any script are all in.
PRINTABLE = st.characters(exclude_categories=("Cs", "Cc"))
NAMES = st.text(PRINTABLE, min_size=1, max_size=40).filter(
    lambda n: re.fullmatch(NAME_PATTERN, n) is not None
)
# Text the marker's syntax could be mistaken for, mixed in far more often than chance would.
TRICKY = st.sampled_from(["; ", ";", "=", "%", "%3B", "%25", " ", '"', "'", "applied=", "v2"])
TRICKY_NAMES = st.lists(st.one_of(TRICKY, NAMES), min_size=1, max_size=6).map("".join)
ANY_TEXT = st.text(PRINTABLE, max_size=40)
DIGESTS = st.text("0123456789abcdef", min_size=16, max_size=16)


def read_name(description: str) -> str:
    fields = read_marker({"description": description})
    assert fields is not None
    return fields["dataflow"]


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(NAMES, TRICKY_NAMES, ANY_TEXT))
def test_every_name_reads_back_as_itself(name: str) -> None:
    assert read_name(marker(dataflow=name)) == name
    assert read_name(target_marker(name, "some project")) == name


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(NAMES, TRICKY_NAMES), st.one_of(NAMES, TRICKY_NAMES), DIGESTS)
def test_two_names_are_never_mistaken_for_each_other(first: str, second: str, digest: str) -> None:
    first_marker, second_marker = applied_marker(first, digest), applied_marker(second, digest)
    assert read_marker({"description": first_marker}) == {"dataflow": first, "applied": digest}
    assert (first_marker == second_marker) == (first == second)
    assert (read_name(first_marker) == read_name(second_marker)) == (first == second)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.one_of(NAMES, TRICKY_NAMES), min_size=2, max_size=4, unique=True))
def test_managed_state_keys_each_dataflow_by_its_own_name(names: list[str]) -> None:
    live = LiveState()
    account = account_resource("acc-1", "shared", "fp")
    live.connections[account["id"]] = account
    for i, name in enumerate(names):
        target = target_resource(f"tgt-{i}", name, account["id"])
        flow = flow_resource(f"flow-{i}", f"live name {i}", target["id"], created=i)
        live.targets[target["id"]], live.flows[flow["id"]] = target, flow
    managed = managed_state(live)
    assert sorted(f.recorded for f in managed.candidates) == sorted(map(nfc, names))
    assert {f.id for f in managed.candidates} == set(live.flows)
    assert {f.evidence for f in managed.candidates} == {"made"}
    assert managed.duplicates == []


# Round 1 wrote the name raw, last but for `applied=` (16 hex digits).
ROUND1_NAMES = st.one_of(NAMES, TRICKY_NAMES).filter(
    lambda n: re.search(r"; applied=[0-9a-f]{16}$", n) is None
)


@settings(max_examples=250, deadline=None, database=None)
@given(ROUND1_NAMES, DIGESTS)
def test_round1_markers_are_read(name: str, digest: str) -> None:
    with_digest = f"managed by provisioner; dataflow={name}; applied={digest}"
    assert read_marker({"description": with_digest}) == {"dataflow": name, "applied": digest}
    assert read_name(f"managed by provisioner; dataflow={name}") == name


def test_round1_examples() -> None:
    summer = "managed by provisioner; dataflow=Summer; EU; applied=0123456789abcdef"
    assert read_marker({"description": summer}) == {
        "dataflow": "Summer; EU",
        "applied": "0123456789abcdef",
    }
    # Not 16 hex digits: part of the name, as round 1 wrote it.
    promo = "managed by provisioner; dataflow=promo; applied=deadbeef"
    assert read_name(promo) == "promo; applied=deadbeef"
    assert read_name(marker(dataflow="promo; applied=deadbeef")) == "promo; applied=deadbeef"


def test_round1_account_marker() -> None:
    assert read_marker({"description": "managed by provisioner; account=k; fingerprint=ab"}) == {
        "account": "k",
        "fingerprint": "ab",
    }


@settings(max_examples=100, deadline=None, database=None)
@given(st.one_of(NAMES, TRICKY_NAMES), st.one_of(NAMES, TRICKY_NAMES))
def test_account_markers_read_back(key: str, project: str) -> None:
    account = DesiredAccount(key, KINESIS, {"region": "us-east-1"}, {}, ".", "f" * 32)
    fields = read_marker({"description": account_marker(account, project)})
    assert fields is not None
    assert fields["account"] == key
    assert fields["fingerprint"] == "f" * 32
    assert fields.get("project", "default") == project


def test_words_that_only_look_like_the_marker_are_not_it() -> None:
    for description in ("managed by provisioners", "Managed by provisioner v2", "", None, 3):
        assert read_marker({"description": description}) is None


# A file path may hold what the marker's syntax uses; a variable name cannot.
FILE_PATHS = st.one_of(NAMES, TRICKY_NAMES).filter(lambda p: "}" not in p and p.strip() != "")


@settings(max_examples=200, deadline=None, database=None)
@given(FILE_PATHS)
def test_account_markers_record_each_credentials_reference(path: str) -> None:
    credentials = {
        "accessKeyId": SecretRef.parse("${env:KINESIS_ACCESS_KEY_ID}"),
        "secretKey": SecretRef.parse(f"${{file:{path}}}"),
    }
    account = DesiredAccount("k", KINESIS, {"region": "us-east-1"}, credentials, ".", "f" * 32)
    fields = read_marker({"description": account_marker(account)})
    assert fields is not None
    assert recorded_references(fields) == {
        "accessKeyId": "${env:KINESIS_ACCESS_KEY_ID}",
        "secretKey": SecretRef.parse(f"${{file:{path}}}").reference,
    }


def test_a_marker_without_references_records_none() -> None:
    previous = "managed by provisioner v2; account=k; fingerprint=ab; flow.1=orders"
    fields = read_marker({"description": previous})
    assert fields is not None
    assert recorded_references(fields) == {}
