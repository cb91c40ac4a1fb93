"""Acceptance tests for provable ownership (contract section 6, "Ownership"), end to end
over loopback HTTP, each on the lenient and on the strict emulator.

The tool changes, renames or deletes a live object only when it can prove it made it for
this project and environment, or it was imported; everything else in the sandbox is
foreign and left exactly as it is. Objects "made by hand" here are written over the
emulator's HTTP API by the Experience Platform UI's client (`exc_app`), with target
connections that carry no marker.

The tests look only at the CLI (exit codes, output, JSON plans) and at the emulator's
stored objects.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import pytest

from provisioner.emulator import FaultRule
from provisioner.emulator.identity import DEFAULT_ORG
from provisioner.platform.ids import IMS_TOKEN_PATH
from tests.emulator_support import (
    Api,
    flow_body,
    kinesis_account,
    kinesis_target,
    profile_base,
    profile_source,
    segment,
)
from tests.workspace import AUDIENCES, Outcome, Workspace, event_hubs, kinesis

A, B, C, D, E, F = AUDIENCES
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")
FLAVOURS = {"lenient": "workspace", "strict": "strict_workspace"}
UI_CLIENT = "exc_app"  # the Experience Platform UI, as the platform records its writes
UI_SECRET = "ui-secret-for-tests"
SAFETY = "safety: {deleteThreshold: 0.3, minManaged: 10}\n"

Key = tuple[str, str]  # (kind, id)


@pytest.fixture(params=list(FLAVOURS))
def ws(request: pytest.FixtureRequest) -> Workspace:
    """A user's folder, against the lenient emulator and against the strict one."""
    workspace: Workspace = request.getfixturevalue(FLAVOURS[request.param])
    return workspace


# another client of the platform ---------------------------------------------------------


class Ui(Api):
    """The Experience Platform UI: another client (`exc_app`) of the emulator's HTTP API."""

    def __init__(self, ws: Workspace, sandbox: str = "prod", client_id: str = UI_CLIENT) -> None:
        ws.emulator.config.clients[client_id] = (UI_SECRET, DEFAULT_ORG)
        self.client = httpx.Client(base_url=ws.url)
        form = {
            "client_id": client_id,
            "client_secret": UI_SECRET,
            "grant_type": "client_credentials",
            "scope": "openid,AdobeID",
        }
        answer = self.client.post("/ims/token/v3", data=form)
        assert answer.status_code == 200, answer.text
        self.headers = {
            "Authorization": f"Bearer {answer.json()['access_token']}",
            "x-api-key": client_id,
            "x-gw-ims-org-id": DEFAULT_ORG,
            "x-sandbox-name": sandbox,
        }

    def __enter__(self) -> Ui:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.client.close()

    def rename_flow(self, flow_id: str, name: str) -> None:
        """Renames a dataflow as the UI does: a documented `replace /name`, with If-Match."""
        etag = self.one(f"/flows/{flow_id}")["etag"]
        answer = self.patch(
            f"/flows/{flow_id}", [{"op": "replace", "path": "/name", "value": name}], etag
        )
        assert answer.status_code in (200, 202), answer.text


@dataclass
class HandMade:
    """A dataflow made by hand, and every object made for it."""

    flow: str
    target: str
    account: str
    source: str
    made: list[Key] = field(default_factory=list)


def hand_made_flow(
    ws: Workspace,
    name: str,
    *,
    account: str | None = None,
    source: str | None = None,
    stream: str = "orders",
    audiences: Sequence[str] = (),
    sandbox: str = "prod",
) -> HandMade:
    """A dataflow made in the UI: its own target connection (no marker) on `account` (else
    an account of its own), from `source` (else a profile source of its own)."""
    made: list[Key] = []
    with Ui(ws, sandbox) as ui:
        if account is None:
            account = ui.created("/connections", kinesis_account(name=f"{name} (UI account)"))
            made.append(("connections", account))
        if source is None:
            base = ui.created("/connections", profile_base())
            source = ui.created("/sourceConnections", profile_source(base))
            made += [("connections", base), ("sourceConnections", source)]
        target_body = kinesis_target(account, stream)
        target_body.update(name=name, description="made in the Experience Platform UI")
        target = ui.created("/targetConnections", target_body)
        body = flow_body(source, target, name)
        body["transformations"][0]["params"]["segmentSelectors"]["selectors"] = [
            segment(a) for a in audiences
        ]
        flow = ui.created("/flows", body)
    made += [("targetConnections", target), ("flows", flow)]
    return HandMade(flow, target, account, source, made)


# reading the emulator's state -------------------------------------------------------------


def state(ws: Workspace, sandbox: str = "prod") -> dict[Key, dict[str, Any]]:
    """Every object of the sandbox, as stored (a deep copy)."""
    return {
        (kind, r["id"]): copy.deepcopy(r) for kind in KINDS for r in ws.resources(kind, sandbox)
    }


def snapshot(ws: Workspace, keys: Iterable[Key], sandbox: str = "prod") -> dict[Key, Any]:
    taken = {key: copy.deepcopy(ws.emulator.store.get(key[0], sandbox, key[1])) for key in keys}
    assert all(value is not None for value in taken.values())
    return taken


def assert_untouched(ws: Workspace, taken: dict[Key, Any], sandbox: str = "prod") -> None:
    """Each object is still there, byte for byte as it was (etag and timestamps included)."""
    for (kind, object_id), before in taken.items():
        now = ws.emulator.store.get(kind, sandbox, object_id)
        assert now is not None, f"{kind} {object_id} ({before.get('name')}) was deleted"
        assert now == before, f"{kind} {object_id} ({before.get('name')}) was changed"


def flows_named(ws: Workspace, name: str, sandbox: str = "prod") -> list[dict[str, Any]]:
    return [f for f in ws.resources("flows", sandbox) if f["name"] == name]


def target_of(ws: Workspace, flow: dict[str, Any], sandbox: str = "prod") -> dict[str, Any]:
    target = ws.emulator.store.get("targetConnections", sandbox, flow["targetConnectionIds"][0])
    assert target is not None
    return target


def account_of(ws: Workspace, flow: dict[str, Any], sandbox: str = "prod") -> str:
    return str(target_of(ws, flow, sandbox)["baseConnectionId"])


def ids(ws: Workspace, kind: str, sandbox: str = "prod") -> set[str]:
    return {r["id"] for r in ws.resources(kind, sandbox)}


def audiences_of(flow: dict[str, Any]) -> list[str]:
    selectors = flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    return [s["value"]["id"] for s in selectors]


def counts(ws: Workspace, sandbox: str = "prod") -> dict[str, int]:
    return {kind: len(ws.resources(kind, sandbox)) for kind in KINDS}


NOTHING = dict.fromkeys(KINDS, 0)


# running the CLI ------------------------------------------------------------------------


def said(outcome: Outcome) -> str:
    return f"exit {outcome.code}\n--- stdout\n{outcome.out}\n--- stderr\n{outcome.err}"


def applied(ws: Workspace, *args: str) -> Outcome:
    outcome = ws.apply(*args)
    assert outcome.code == 0, said(outcome)
    return outcome


def ran(ws: Workspace, *args: str) -> Outcome:
    outcome = ws.run(*args)
    assert outcome.code == 0, said(outcome)
    return outcome


def plan_json(ws: Workspace, *args: str) -> dict[str, Any]:
    outcome = ws.plan("--format", "json", *args)
    assert outcome.code == 0, said(outcome)
    shown: dict[str, Any] = outcome.json
    return shown


def actions(shown: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["action"], c["type"], c["name"]) for c in shown["changes"]]


def no_changes(ws: Workspace, *args: str) -> None:
    again = ws.plan("--detailed-exitcode", *args)
    assert again.code == 0, said(again)
    assert "No changes." in again.out, said(again)


def renamed(manifest: str, *old: str) -> str:
    return manifest + f"renamedFrom: [{', '.join(old)}]\n"


def backdate(ws: Workspace, keys: Iterable[Key], before: int, sandbox: str = "prod") -> None:
    """Make objects older than `before` (ms), as if they had been made a day earlier."""
    store = ws.emulator.store
    with store.transaction():
        for kind, object_id in keys:
            resource = copy.deepcopy(store.get(kind, sandbox, object_id))
            assert resource is not None
            resource["createdAt"] = before - 86_400_000
            resource["updatedAt"] = before - 86_400_000
            store.put(kind, sandbox, resource)


# a. a dataflow made by hand that shares a managed name -------------------------------------


@pytest.mark.parametrize("on", ["managed-account", "own-account"])
def test_a_name_only_a_hand_made_dataflow_holds_is_an_error(ws: Workspace, on: str) -> None:
    """Row a (hand-made one first): a manifest whose name only a foreign dataflow holds is
    exit 1 suggesting `provisioner import --flow-id`; nothing is written, the hand-made
    dataflow and its target stay byte for byte."""
    ws.write("other.yaml", kinesis("other", [A], account="shop", stream="other"))
    applied(ws)
    other = ws.flow("other")
    if on == "managed-account":
        hand = hand_made_flow(
            ws,
            "orders",
            account=account_of(ws, other),
            source=other["sourceConnectionIds"][0],
            audiences=[B],
        )
    else:
        hand = hand_made_flow(ws, "orders", audiences=[B])
    taken = snapshot(ws, hand.made)
    before = state(ws)
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    for outcome in (ws.plan(), ws.apply(), ws.apply("--prune")):
        assert outcome.code == 1, said(outcome)
        assert "already exists" in outcome.err, said(outcome)
        assert f"provisioner import --flow-id {hand.flow}" in outcome.err, said(outcome)
    assert state(ws) == before
    assert_untouched(ws, taken)


@pytest.mark.parametrize("age", ["older", "newer"])
def test_a_hand_made_namesake_on_the_managed_account_is_left_alone(ws: Workspace, age: str) -> None:
    """Row a: a hand-made dataflow named as a managed one, on the managed account and from
    the managed profile source, older or newer than the managed one: apply (with or without
    --prune) changes nothing, the plan says so and warns "foreign" suggesting import."""
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    applied(ws)
    mine = copy.deepcopy(ws.flow("orders"))
    hand = hand_made_flow(
        ws,
        "orders",
        account=account_of(ws, mine),
        source=mine["sourceConnectionIds"][0],
        audiences=[A, B],  # the same audience to the same stream, too
    )
    if age == "older":
        backdate(ws, hand.made, before=mine["createdAt"])
    taken = snapshot(ws, hand.made)
    before = state(ws)
    for prune in ((), ("--prune",)):
        shown = plan_json(ws, *prune)
        assert shown["changes"] == [], shown["changes"]
        foreign = [w for w in shown["warnings"] if w["kind"] == "foreign"]
        assert len(foreign) == 1, shown["warnings"]
        assert foreign[0]["names"] == ["orders"]
        assert "provisioner import" in foreign[0]["message"]
    for prune in ((), ("--prune",)):
        applied(ws, *prune)
        assert state(ws) == before  # nothing written at all
    assert_untouched(ws, taken)
    assert sorted(f["id"] for f in flows_named(ws, "orders")) == sorted([mine["id"], hand.flow])
    no_changes(ws)
    no_changes(ws, "--prune")


# b, d. renames keep the dataflow and its account -------------------------------------------


@pytest.mark.parametrize("account", [None, "shop"], ids=["default-account", "named-account"])
@pytest.mark.parametrize("history", [["beta"], ["alpha", "beta"]], ids=["last", "all"])
def test_a_rename_chain_keeps_one_dataflow(
    ws: Workspace, account: str | None, history: list[str]
) -> None:
    """Row b: alpha -> beta -> gamma (gamma lists renamedFrom [beta], or [alpha, beta]):
    every step is an update in place; one dataflow, its id, target and account unchanged;
    the next plan has no changes."""
    ws.write("flow.yaml", kinesis("alpha", [A], account=account))
    applied(ws)
    flow_id = ws.flow("alpha")["id"]
    before = {kind: ids(ws, kind) for kind in KINDS}
    account_id = account_of(ws, ws.flow("alpha"))
    for name, old in (("beta", ["alpha"]), ("gamma", history)):
        ws.write("flow.yaml", renamed(kinesis(name, [A], account=account), *old))
        shown = plan_json(ws)
        assert ("update", "flow", name) in actions(shown), actions(shown)
        assert {c["action"] for c in shown["changes"]} == {"update"}, actions(shown)
        applied(ws)
        assert [(f["id"], f["name"]) for f in ws.resources("flows")] == [(flow_id, name)]
        assert {kind: ids(ws, kind) for kind in KINDS} == before
        assert account_of(ws, ws.flow(name)) == account_id
        no_changes(ws)
    no_changes(ws, "--prune")


@pytest.mark.parametrize("kind", ["kinesis", "event-hubs"])
def test_renamed_from_without_an_account_keeps_the_ids(ws: Workspace, kind: str) -> None:
    """Row d: renamedFrom, no explicit destination.account: the plan has no replace and no
    delete (not even with --prune); the dataflow's and the account's ids stay."""
    make = kinesis if kind == "kinesis" else event_hubs
    ws.write("flow.yaml", make("orders", [A]))
    applied(ws)
    flow = ws.flow("orders")
    account_id, flow_id = account_of(ws, flow), flow["id"]
    before = {k: ids(ws, k) for k in KINDS}
    ws.write("flow.yaml", renamed(make("orders-eu", [A]), "orders"))
    for prune in ((), ("--prune",)):
        shown = plan_json(ws, *prune)
        assert ("update", "flow", "orders-eu") in actions(shown), actions(shown)
        assert not {"replace", "delete", "create"} & {c["action"] for c in shown["changes"]}, (
            actions(shown)
        )
    applied(ws, "--prune")
    assert [(f["id"], f["name"]) for f in ws.resources("flows")] == [(flow_id, "orders-eu")]
    assert account_of(ws, ws.flow("orders-eu")) == account_id
    assert {k: ids(ws, k) for k in KINDS} == before
    no_changes(ws)
    no_changes(ws, "--prune")


# c. an old name is free --------------------------------------------------------------------


def test_an_old_name_is_free_for_a_new_dataflow(ws: Workspace) -> None:
    """Row c: after alpha -> beta, a new manifest named alpha beside beta's creates a second
    dataflow; beta keeps its id, name, stream and audiences. (beta's manifest drops alpha
    from renamedFrom: the README's rule that an earlier name belongs to one manifest.)"""
    ws.write("beta.yaml", kinesis("alpha", [A], account="shop", stream="orders"))
    applied(ws)
    old_id = ws.flow("alpha")["id"]
    ws.write("beta.yaml", renamed(kinesis("beta", [A], account="shop", stream="orders"), "alpha"))
    applied(ws)
    assert ws.flow("beta")["id"] == old_id
    ws.write("beta.yaml", kinesis("beta", [A], account="shop", stream="orders"))
    no_changes(ws, "--prune")
    ws.write("alpha.yaml", kinesis("alpha", [B], account="shop", stream="fresh"))
    shown = plan_json(ws, "--prune")
    assert {c["action"] for c in shown["changes"]} == {"create"}, actions(shown)
    assert ("create", "flow", "alpha") in actions(shown)
    assert "beta" not in {c["name"] for c in shown["changes"]}
    applied(ws, "--prune")
    assert len(ws.resources("flows")) == 2
    beta, alpha = ws.flow("beta"), ws.flow("alpha")
    assert beta["id"] == old_id and alpha["id"] != old_id
    assert target_of(ws, beta)["params"]["stream"] == "orders"
    assert target_of(ws, alpha)["params"]["stream"] == "fresh"
    assert (audiences_of(beta), audiences_of(alpha)) == ([A], [B])
    no_changes(ws)
    no_changes(ws, "--prune")


# e. destroy after renames ------------------------------------------------------------------


@pytest.mark.parametrize("rename", ["applied", "pending"])
def test_destroy_after_a_rename(ws: Workspace, rename: str) -> None:
    """Row e: destroy of the manifest gamma (renamedFrom [alpha]) deletes the dataflow
    made as alpha, whether the rename was applied or not, and what only it used; exit 0."""
    ws.write("flow.yaml", kinesis("alpha", [A], account="shop"))
    applied(ws)
    flow_id = ws.flow("alpha")["id"]
    ws.write("flow.yaml", renamed(kinesis("gamma", [A], account="shop"), "alpha"))
    if rename == "applied":
        applied(ws)
        assert ws.flow("gamma")["id"] == flow_id
    shown = plan_json(ws)
    assert [c["id"] for c in shown["changes"] if c["type"] == "flow"] == (
        [flow_id] if rename == "pending" else []
    )
    outcome = ran(ws, "destroy", "manifests", "--auto-approve")
    assert counts(ws) == NOTHING, said(outcome)
    ran(ws, "destroy", "manifests", "--auto-approve")  # nothing left: fine


def test_destroy_of_a_dataflow_renamed_in_the_ui(ws: Workspace) -> None:
    """Row e: a dataflow renamed in the UI is still its manifest's: destroy deletes it and
    what only it used; exit 0."""
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    flow_id = ws.flow("orders")["id"]
    with Ui(ws) as ui:
        ui.rename_flow(flow_id, "orders (renamed in the UI)")
    outcome = ran(ws, "destroy", "manifests", "--auto-approve")
    assert counts(ws) == NOTHING, said(outcome)


# f. connections another project uses ---------------------------------------------------------


def test_destroy_keeps_the_profile_source_another_project_uses(ws: Workspace) -> None:
    """Row f: two projects on one sandbox share the profile source: destroying one
    project's manifests deletes its dataflow and account, keeps the profile source (the
    other project's dataflow uses it) and says it kept it."""
    a, b = ws, Workspace(ws.root / "other-repo", ws.url, ws.emulator)
    a.root.joinpath("provisioner.yaml").write_text("project: a\n", encoding="utf-8")
    b.root.joinpath("provisioner.yaml").write_text("project: b\n", encoding="utf-8")
    a.write("a.yaml", kinesis("a-one", [A], stream="a1"))
    b.write("b.yaml", kinesis("b-one", [A], stream="b1"))
    applied(a)
    applied(b)
    a_flow, b_flow = copy.deepcopy(ws.flow("a-one")), copy.deepcopy(ws.flow("b-one"))
    source = a_flow["sourceConnectionIds"]
    assert source == b_flow["sourceConnectionIds"], "the two projects share the profile source"
    profile_source_connection = ws.emulator.store.get("sourceConnections", "prod", source[0])
    assert profile_source_connection is not None
    profile = profile_source_connection["baseConnectionId"]
    a_account, b_account = account_of(ws, a_flow), account_of(ws, b_flow)
    outcome = ran(a, "destroy", "manifests", "--auto-approve")
    assert [f["id"] for f in ws.resources("flows")] == [b_flow["id"]]
    assert ids(ws, "sourceConnections") == set(source)
    assert ids(ws, "connections") == {profile, b_account}
    assert a_account not in ids(ws, "connections")
    text = outcome.out + outcome.err
    kept = [
        line
        for line in text.splitlines()
        if "profile" in line and re.search(r"\b(kept|keeps|left|leaves|still used)\b", line)
    ]
    assert kept, f"destroy does not say it kept the profile source:\n{said(outcome)}"
    no_changes(b)
    no_changes(b, "--prune")


# destroy: a dataflow with a duplicate; an account a hand-made dataflow uses -------------------


def racing_copy(ws: Workspace, name: str, sandbox: str = "prod") -> tuple[str, str]:
    """A second copy of the managed dataflow `name` and of its target connection, as the
    tool's own apply racing another leaves one: the same bodies (marker, account, source,
    audiences, last writer the tool), new ids and etags, made a second later. Returns the
    copy's (flow id, target id)."""
    store = ws.emulator.store
    flow = ws.flow(name)
    target = target_of(ws, flow, sandbox)
    flow_id, target_id = str(uuid.uuid4()), str(uuid.uuid4())

    def copied(resource: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(resource).replace(flow["id"], flow_id).replace(target["id"], target_id)
        made: dict[str, Any] = json.loads(text)
        etag = store.new_etag()
        later = int(resource["createdAt"]) + 1000
        made.update(etag=etag, version=etag, createdAt=later, updatedAt=later)
        return made

    with store.transaction():
        store.put("targetConnections", sandbox, copied(target))
        store.put("flows", sandbox, copied(flow))
    return flow_id, target_id


@pytest.mark.parametrize("account", ["its-own", "shared-with-another-manifest"])
def test_destroy_deletes_a_dataflow_and_its_duplicate(ws: Workspace, account: str) -> None:
    """Destroy of a manifest whose dataflow has a duplicate (a second copy of its dataflow
    and target, as two applies at once leave): exit 0, both dataflows and both targets
    deleted, nothing failed; the account goes once no dataflow uses it (at once when only
    this manifest uses it, else with the last manifest that does, and kept until then with
    why)."""
    shared = account == "shared-with-another-manifest"
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    if shared:
        ws.write("keep.yaml", kinesis("keep", [A], account="shop", stream="keep"))
    applied(ws)
    first = copy.deepcopy(ws.flow("orders"))
    first_target, shop = first["targetConnectionIds"][0], account_of(ws, first)
    copy_flow, copy_target = racing_copy(ws, "orders")
    assert len(flows_named(ws, "orders")) == 2
    shown = plan_json(ws)
    assert [(w["kind"], w["names"]) for w in shown["warnings"]] == [("duplicate", ["orders"])]

    outcome = ran(ws, "destroy", "manifests/orders.yaml", "--auto-approve")

    assert "error" not in outcome.err.lower(), said(outcome)
    for kind, object_id in (
        ("dataflow", first["id"]),
        ("target connection", first_target),
        ("dataflow", copy_flow),
        ("target connection", copy_target),
    ):
        assert f"- {kind} orders (id {object_id})  # destroy" in outcome.out, said(outcome)
    assert flows_named(ws, "orders") == []
    assert {first_target, copy_target} & ids(ws, "targetConnections") == set()
    if not shared:
        assert "Destroy finished: 6 of 6 change(s) applied (1 of 1 dataflow(s)); 0 failed." in (
            outcome.out
        ), said(outcome)
        assert f"- account shop (id {shop})  # destroy" in outcome.out, said(outcome)
        assert counts(ws) == NOTHING, said(outcome)
        return
    keep = ws.flow("keep")
    assert "Destroy finished: 4 of 4 change(s) applied (1 of 1 dataflow(s)); 0 failed." in (
        outcome.out
    ), said(outcome)
    for kept in ("account shop", "the profile source connection"):
        assert (
            f"Note: kept {kept}: 1 other dataflow(s) of the sandbox use it ({keep['id']})"
            in outcome.out
        ), said(outcome)
    assert ids(ws, "flows") == {keep["id"]}
    assert ids(ws, "targetConnections") == {keep["targetConnectionIds"][0]}
    assert shop in ids(ws, "connections") and account_of(ws, keep) == shop
    no_changes(ws, "--only", "keep")
    last = ran(ws, "destroy", "manifests", "--auto-approve")
    assert f"- account shop (id {shop})  # destroy" in last.out, said(last)
    assert "Destroy finished: 4 of 4 change(s) applied (1 of 1 dataflow(s)); 0 failed." in (
        last.out
    ), said(last)
    assert counts(ws) == NOTHING, said(last)


def test_destroy_keeps_the_account_a_hand_made_dataflow_uses(ws: Workspace) -> None:
    """Destroy where a dataflow made by hand (in the UI) uses the managed account: the
    managed dataflow, its target and the profile source only it used are deleted; the
    account is kept, the output saying so and which dataflow uses it; exit 0; the
    hand-made objects stay byte for byte."""
    ws.write("orders.yaml", kinesis("orders", [A], account="shop"))
    applied(ws)
    orders = copy.deepcopy(ws.flow("orders"))
    shop, profile_source_id = account_of(ws, orders), orders["sourceConnectionIds"][0]
    hand = hand_made_flow(ws, "hand", account=shop, stream="hand", audiences=[B])
    taken = snapshot(ws, hand.made)
    assert hand.account == shop and hand.source != profile_source_id

    outcome = ran(ws, "destroy", "manifests", "--auto-approve")

    assert "error" not in outcome.err.lower(), said(outcome)
    assert (
        f"Note: kept account shop: 1 other dataflow(s) of the sandbox use it ({hand.flow})"
        in outcome.out
    ), said(outcome)
    assert f"- account shop (id {shop})" not in outcome.out, said(outcome)
    assert "Destroy finished: 3 of 3 change(s) applied (1 of 1 dataflow(s)); 0 failed." in (
        outcome.out
    ), said(outcome)
    assert ids(ws, "flows") == {hand.flow}
    assert ids(ws, "targetConnections") == {hand.target}
    assert ids(ws, "sourceConnections") == {hand.source}
    [hand_base] = [object_id for kind, object_id in hand.made if kind == "connections"]
    assert ids(ws, "connections") == {shop, hand_base}
    assert_untouched(ws, taken)
    ran(ws, "destroy", "manifests", "--auto-approve")  # again: nothing of orders is left
    assert ids(ws, "connections") == {shop, hand_base}  # the account is still kept


# g. thresholds count only what this project provably manages ---------------------------------


def _fleet(ws: Workspace, hand_made: int = 4) -> list[HandMade]:
    """Ten managed dataflows on two managed accounts, then `hand_made` made by hand on
    those accounts (from the managed profile source)."""
    ws.root.joinpath("provisioner.yaml").write_text("project: shop\n" + SAFETY, encoding="utf-8")
    for i in range(10):
        account = "shop" if i % 2 else "depot"
        ws.write(
            f"flow-{i:02d}.yaml", kinesis(f"flow-{i:02d}", [A], account=account, stream=f"s{i}")
        )
    applied(ws)
    assert len(ws.resources("flows")) == 10
    hands = []
    for i in range(hand_made):
        managed = ws.flow(f"flow-{i:02d}")
        hands.append(
            hand_made_flow(
                ws,
                f"hand-{i}",
                account=account_of(ws, managed),
                source=managed["sourceConnectionIds"][0],
                stream=f"hand-{i}",
                audiences=[A],
            )
        )
    return hands


def _refused(ws: Workspace, *args: str) -> Outcome:
    before = state(ws)
    outcome = ws.apply(*args)
    assert outcome.code == 1, said(outcome)
    assert "--force" in outcome.err, said(outcome)
    assert state(ws) == before  # nothing deleted, nothing written
    return outcome


def _names(ws: Workspace) -> list[str]:
    return sorted(f["name"] for f in ws.resources("flows"))


def test_the_threshold_counts_only_provably_managed_dataflows(ws: Workspace) -> None:
    """Row g: 10 managed + 4 hand-made dataflows on the managed accounts; pruning 4 is over
    30% of the 10 managed (and over ceil(0.3 x 10) = 3): refused without --force. The
    hand-made ones are not in the base and never deleted."""
    hands = _fleet(ws)
    taken = snapshot(ws, [k for h in hands for k in h.made])
    for i in range(4):
        ws.remove(f"flow-{i:02d}.yaml")
    threshold = [w for w in plan_json(ws, "--prune")["warnings"] if w["kind"] == "threshold"]
    assert len(threshold) == 1
    assert sorted(threshold[0]["names"]) == [f"flow-{i:02d}" for i in range(4)]
    _refused(ws, "--prune")
    applied(ws, "--prune", "--force")
    assert _names(ws) == [f"flow-{i:02d}" for i in range(4, 10)] + [f"hand-{i}" for i in range(4)]
    assert_untouched(ws, taken)
    no_changes(ws, "--prune")


@pytest.mark.parametrize("hand_made", [0, 4])
def test_the_threshold_caps_the_count_below_min_managed(ws: Workspace, hand_made: int) -> None:
    """Row g: prune 2 of 10 (allowed), then 6 of the 8 left: refused, since 6 is more than
    ceil(0.3 x 10) = 3 even though the base (8) is below minManaged; hand-made dataflows
    on the managed accounts (none, or 4) count for nothing."""
    hands = _fleet(ws, hand_made)
    handmade = [f"hand-{i}" for i in range(hand_made)]
    taken = snapshot(ws, [k for h in hands for k in h.made])
    for i in range(2):
        ws.remove(f"flow-{i:02d}.yaml")
    applied(ws, "--prune")
    assert _names(ws) == [f"flow-{i:02d}" for i in range(2, 10)] + handmade
    for i in range(2, 8):
        ws.remove(f"flow-{i:02d}.yaml")
    _refused(ws, "--prune")
    applied(ws, "--prune", "--force")
    assert _names(ws) == ["flow-08", "flow-09", *handmade]
    assert_untouched(ws, taken)
    no_changes(ws, "--prune")


# h. --only that names nothing --------------------------------------------------------------


def test_only_a_name_that_matches_nothing_is_an_error(ws: Workspace) -> None:
    """Row h: `--only typo` matching no manifest and no managed dataflow is exit 1 for plan,
    apply and destroy (with and without --prune), and nothing is written."""
    ws.write("orders.yaml", kinesis("orders", [A]))
    applied(ws)
    before = state(ws)
    for args in (
        ("plan", "manifests"),
        ("plan", "manifests", "--prune"),
        ("apply", "manifests", "--auto-approve"),
        ("apply", "manifests", "--auto-approve", "--prune"),
        ("destroy", "manifests", "--auto-approve"),
    ):
        outcome = ws.run(*args, "--only", "typo")
        assert outcome.code == 1, f"{' '.join(args)}: {said(outcome)}"
        assert "typo" in outcome.err, f"{' '.join(args)}: {said(outcome)}"
    assert state(ws) == before
    no_changes(ws, "--only", "orders")


def test_only_a_managed_dataflow_without_a_manifest_needs_prune(ws: Workspace) -> None:
    """Row h: `--only orders` once orders.yaml is gone matches a managed dataflow but no
    manifest: with --prune it plans orders' deletion; without it, exit 1."""
    ws.write("orders.yaml", kinesis("orders", [A], stream="orders"))
    ws.write("keep.yaml", kinesis("keep", [A], stream="keep"))
    applied(ws)
    ws.remove("orders.yaml")
    before = state(ws)
    without = ws.plan("--only", "orders")
    assert without.code == 1 and "orders" in without.err, said(without)
    pruning = ws.plan("--prune", "--only", "orders", "--detailed-exitcode")
    assert pruning.code == 2, said(pruning)
    shown = plan_json(ws, "--prune", "--only", "orders")
    assert ("delete", "flow", "orders") in actions(shown)
    assert {c["action"] for c in shown["changes"]} == {"delete"}
    assert "keep" not in {c["name"] for c in shown["changes"]}
    assert state(ws) == before


# i. two environments on one sandbox ----------------------------------------------------------


TWO_ENVIRONMENTS = """project: shop
environments:
  dev:
    sandbox: prod
    vars: {stream: orders-dev}
  staging:
    sandbox: prod
    vars: {stream: orders-staging}
"""


def test_two_environments_on_one_sandbox_never_touch_each_other(ws: Workspace) -> None:
    """Row i: dev and staging both on sandbox prod: applying each gives two dataflows; a
    plan of either (with --prune too) has no changes; destroying dev leaves staging's."""
    ws.root.joinpath("provisioner.yaml").write_text(TWO_ENVIRONMENTS, encoding="utf-8")
    text = kinesis("orders", [A]).replace("stream: orders", "stream: ${var:stream}")
    assert "${var:stream}" in text
    ws.write("orders.yaml", text)
    ran(ws, "apply", "manifests", "--env", "dev", "--auto-approve")
    [dev] = copy.deepcopy(ws.resources("flows"))
    ran(ws, "apply", "manifests", "--env", "staging", "--auto-approve")
    flows = {f["id"]: f for f in ws.resources("flows")}
    assert len(flows) == 2 and dev["id"] in flows
    [staging_id] = set(flows) - {dev["id"]}
    streams = {i: target_of(ws, f)["params"]["stream"] for i, f in flows.items()}
    assert streams == {dev["id"]: "orders-dev", staging_id: "orders-staging"}
    assert flows[dev["id"]]["etag"] == dev["etag"]  # staging's apply did not touch dev's
    for env in ("dev", "staging"):
        for prune in ((), ("--prune",)):
            outcome = ws.run("plan", "manifests", "--env", env, "--detailed-exitcode", *prune)
            assert outcome.code == 0 and "No changes." in outcome.out, said(outcome)
    staging_target = target_of(ws, flows[staging_id])["id"]
    staging = snapshot(ws, [("flows", staging_id), ("targetConnections", staging_target)])
    ran(ws, "destroy", "manifests", "--env", "dev", "--auto-approve")
    assert ids(ws, "flows") == {staging_id}
    assert_untouched(ws, staging)
    outcome = ws.run("plan", "manifests", "--env", "staging", "--detailed-exitcode")
    assert outcome.code == 0 and "No changes." in outcome.out, said(outcome)


# j. Unicode normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("caf\u00e9", "cafe\u0301"), ("cafe\u0301", "caf\u00e9")],
    ids=["composed-then-decomposed", "decomposed-then-composed"],
)
def test_names_are_compared_after_nfc(ws: Workspace, first: str, second: str) -> None:
    """Row j: a manifest applied under one Unicode form of its name and saved again under
    the other plans no changes, and stays one dataflow."""
    ws.write("cafe.yaml", kinesis(first, [A]))
    applied(ws)
    [flow] = ws.resources("flows")
    before = state(ws)
    ws.write("cafe.yaml", kinesis(second, [A]))
    no_changes(ws)
    no_changes(ws, "--prune")
    applied(ws, "--prune")
    assert state(ws) == before
    assert ids(ws, "flows") == {flow["id"]}


# k. an imported dataflow renamed in the UI ----------------------------------------------------


def test_an_imported_dataflow_renamed_in_the_ui_is_renamed_back(ws: Workspace) -> None:
    """Row k: a dataflow made by hand is imported and applied; renamed in the UI (another
    client's PATCH), the plan renames it back (an update, no create) and apply keeps it
    one dataflow with the same id."""
    hand = hand_made_flow(ws, "imported", audiences=[A])
    ran(ws, "import", "--flow-id", hand.flow, "-o", "manifests/imported.yaml")
    text = (ws.root / "manifests" / "imported.yaml").read_text(encoding="utf-8")
    for variable in re.findall(r"\$\{env:([A-Za-z0-9_]+)\}", text):
        ws.env[variable] = f"value-of-{variable.lower()}"
    applied(ws)
    no_changes(ws)
    before = {k: ids(ws, k) for k in KINDS}
    time.sleep(0.002)  # the UI's write is later than the apply's
    with Ui(ws) as ui:
        ui.rename_flow(hand.flow, "imported (renamed in the UI)")
    shown = plan_json(ws, "--prune")
    assert ("update", "flow", "imported") in actions(shown), actions(shown)
    assert {c["action"] for c in shown["changes"]} == {"update"}, actions(shown)
    assert '~ name: "imported (renamed in the UI)" -> "imported"' in ws.plan().out
    applied(ws, "--prune")
    assert [(f["id"], f["name"]) for f in ws.resources("flows")] == [(hand.flow, "imported")]
    assert {k: ids(ws, k) for k in KINDS} == before
    no_changes(ws)


def test_the_ui_client_is_another_client(ws: Workspace) -> None:
    """The helper itself: objects made by hand here are recorded as the UI's writes, and
    their target connection carries no marker."""
    hand = hand_made_flow(ws, "hand", audiences=[A])
    flow = ws.emulator.store.get("flows", "prod", hand.flow)
    target = ws.emulator.store.get("targetConnections", "prod", hand.target)
    assert flow is not None and target is not None
    assert flow["createdClient"] == UI_CLIENT
    assert not str(target.get("description", "")).startswith("managed by provisioner")


# the platform's identity service on both emulators --------------------------------------------


def test_a_lost_token_reply_during_plan_is_asked_again(ws: Workspace) -> None:
    """A lost reply to the IMS token request during `plan` (IMS issued the token, the
    reply never came back): the plan asks again and succeeds, exit 2 with its 4 creates."""
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.emulator.faults.add_rule(FaultRule("lose", "POST", IMS_TOKEN_PATH))
    tokens: list[str] = []
    ws.emulator.observers.append(
        lambda _number, method, path: tokens.append(method) if path == IMS_TOKEN_PATH else None
    )

    outcome = ws.plan("--detailed-exitcode")

    assert outcome.code == 2, said(outcome)
    assert ws.emulator.faults.rules == []  # the reply was lost
    assert "Plan: 4 to create, 0 to update, 0 to replace, 0 to delete" in outcome.out
    assert tokens == ["POST", "POST"]  # the lost exchange, and the one asked again
    assert counts(ws) == NOTHING  # a plan writes nothing


def test_a_forged_marker_does_not_make_its_maker_the_tools_client(ws: Workspace) -> None:
    """Another client writes a connection carrying the project's marker, then edits a
    managed dataflow: the edit is still drift (who made a marked object proves nothing)."""
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    flow = ws.flow("orders")
    with Ui(ws, client_id="intruder") as intruder:
        forged = kinesis_account(name="decoy") | {
            "description": "managed by provisioner v3; account=decoy; fingerprint="
        }
        intruder.created("/connections", forged)
        answer = intruder.patch(
            f"/flows/{flow['id']}",
            [{"op": "replace", "path": "/description", "value": "edited by another team"}],
            intruder.one(f"/flows/{flow['id']}")["etag"],
        )
        assert answer.status_code in (200, 202), answer.text
    shown = ws.plan("--format", "json")
    assert shown.code == 0, shown.err
    [change] = [c for c in shown.json["changes"] if c["type"] == "flow"]
    assert change["drift"] is True
    assert [w["names"] for w in shown.json["warnings"] if w["kind"] == "drift"] == [["orders"]]
