"""Saved plans against a platform that writes on its own, and from another checkout.

End to end over loopback HTTP. The platform's own writes (a dataflow rewritten after each
run, a connection's etag moving after its creation, as Adobe's published captures show) are
made on the emulator's store by `tests.platform_writes`. What is judged is the content each
change was planned against (its digest), never the etag; saved plans name manifests relative
to the project, and refuse whole when a reviewed change's manifest is not given.

Each end-to-end test runs on the lenient emulator and on the strict one (only the writes
Adobe's documents show); the units at the end need neither.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from provisioner.destinations.kinesis import Kinesis
from provisioner.emulator import EmulatorApp
from provisioner.plan.content import content_digest
from provisioner.plan.diff import digest_of, drifted, written_last_by
from provisioner.platform.ids import PLATFORM_CLIENTS, SEGMENT_SELECTORS
from tests.platform_writes import RUNS_CLIENT, platform_write
from tests.workspace import AUDIENCES, Outcome, Workspace, kinesis

A, B, C, D, E, F = AUDIENCES
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")
Json = dict[str, Any]
PLAN = ("--plan", "plan.json", "--auto-approve")
FLAVOURS = {"lenient": "workspace", "strict": "strict_workspace"}
# as FLAVOURS, where the test reads the requests the emulator got (`ws.log`)
LOGGED_FLAVOURS = {"lenient": "recorded_workspace", "strict": "strict_workspace"}


@pytest.fixture(params=list(FLAVOURS))
def ws(request: pytest.FixtureRequest) -> Workspace:
    """A user's folder, against the lenient emulator and against the strict one."""
    workspace: Workspace = request.getfixturevalue(FLAVOURS[request.param])
    return workspace


@pytest.fixture(params=list(LOGGED_FLAVOURS))
def logged_ws(request: pytest.FixtureRequest) -> Workspace:
    """As `ws`, recording every request the emulator gets in `ws.log`."""
    workspace: Workspace = request.getfixturevalue(LOGGED_FLAVOURS[request.param])
    assert workspace.log is not None
    return workspace


def stored(app: EmulatorApp) -> dict[str, dict[str, str]]:
    """Every object of the sandbox as stored, by kind and id."""
    return {
        kind: {
            str(r["id"]): json.dumps(r, sort_keys=True) for _, r in app.store.entries(kind, "prod")
        }
        for kind in KINDS
    }


def audiences_of(flow: Json) -> list[str]:
    selectors = flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    return [str(s["value"]["id"]) for s in selectors]


def target_of(ws: Workspace, name: str) -> Json:
    target_id = ws.flow(name)["targetConnectionIds"][0]
    return next(t for t in ws.resources("targetConnections") if t["id"] == target_id)


def applied(ws: Workspace, *manifests: tuple[str, str]) -> None:
    for filename, text in manifests:
        ws.write(filename, text)
    result = ws.apply()
    assert result.code == 0, result.err


def saved(ws: Workspace, *args: str) -> Json:
    made = ws.run("plan", *args, "--out", "plan.json")
    assert made.code == 0, made.err
    plan: Json = json.loads((ws.root / "plan.json").read_text())
    return plan


def converged(ws: Workspace) -> None:
    check = ws.plan("--detailed-exitcode")
    assert check.code == 0, check.out + check.err


# (a), (b): a plan reviewed before the platform wrote --------------------------------------


def test_a_saved_plan_applies_after_the_platform_rewrote_the_dataflow(ws: Workspace) -> None:
    applied(ws, ("alpha.yaml", kinesis("alpha", [A])))
    ws.write("alpha.yaml", kinesis("alpha", [A, B]))
    plan = saved(ws, "manifests")
    flow = ws.flow("alpha")
    before = next(c for c in plan["changes"] if c["type"] == "flow")
    assert before["etag"] == flow["etag"] and before["digest"] == content_digest(flow)
    # a run, hours later: the dataflow and its target rewritten by the platform alone
    platform_write(ws.emulator, "flows", flow["id"])
    platform_write(ws.emulator, "targetConnections", flow["targetConnectionIds"][0])
    assert ws.flow("alpha")["etag"] != before["etag"]

    result = ws.apply(*PLAN)

    assert result.code == 0, result.err
    # no change of the saved plan refused; the strict emulator may still refuse the
    # best-effort record of the applied state (tests/contract/conflicts.py,
    # target-description-patch), which the run notes once and which is no failure
    assert ": refused: " not in result.err
    assert audiences_of(ws.flow("alpha")) == [A, B]
    converged(ws)


def test_a_saved_plan_is_refused_where_another_client_changed_the_content(ws: Workspace) -> None:
    applied(
        ws,
        ("alpha.yaml", kinesis("alpha", [A])),
        ("beta.yaml", kinesis("beta", [A], stream="b")),
    )
    ws.write("alpha.yaml", kinesis("alpha", [A, B]))
    ws.write("beta.yaml", kinesis("beta", [A, C], stream="b"))
    saved(ws, "manifests")
    alpha = ws.flow("alpha")
    ws.emulator.resources.outside_edit(
        "flows", "prod", alpha["id"], [{"op": "replace", "path": "/description", "value": "UI"}]
    )
    platform_write(ws.emulator, "flows", ws.flow("beta")["id"])

    result = ws.apply(*PLAN)

    assert result.code == 1
    assert (
        "error: dataflow alpha: refused: flow alpha differs from the saved plan in 'digest' "
        "(what it was planned against changed on the platform since the plan)"
    ) in result.err
    assert "etag" not in result.err
    assert audiences_of(ws.flow("alpha")) == [A]  # the refused change is not made
    assert ws.flow("alpha")["description"] == "UI"
    assert audiences_of(ws.flow("beta")) == [A, C]  # only the platform wrote to beta


# (c): a 412 on a planned write ------------------------------------------------------------


def on_first_patch(app: EmulatorApp, path: str, then: Callable[[], object]) -> list[str]:
    """Run `then` just before the first PATCH of `path` (`/flows/ID`) is carried out; the
    requests for that object, in order, are in the returned list."""
    seen: list[str] = []

    def observe(_number: int, method: str, requested: str) -> None:
        if not requested.endswith(path):
            return
        if method == "PATCH" and not any(s.startswith("PATCH") for s in seen):
            then()
        seen.append(f"{method} {path}")

    app.observers.append(observe)
    return seen


def statuses(ws: Workspace, path: str) -> list[str]:
    assert ws.log is not None
    return [f"{e.method} {e.status}" for e in ws.log.entries if e.path == path]


def test_a_planned_flow_patch_refused_412_after_a_platform_write_is_sent_again(
    logged_ws: Workspace,
) -> None:
    ws = logged_ws
    applied(ws, ("alpha.yaml", kinesis("alpha", [A])))
    flow_id = ws.flow("alpha")["id"]
    ws.write("alpha.yaml", kinesis("alpha", [A, B]))
    on_first_patch(
        ws.emulator, f"/flows/{flow_id}", lambda: platform_write(ws.emulator, "flows", flow_id)
    )
    assert ws.log is not None
    ws.log.entries.clear()

    result = ws.apply()

    assert result.code == 0, result.err
    # the 412, one read of the object, the same PATCH again; then the usual read-back
    assert statuses(ws, f"/flows/{flow_id}") == ["PATCH 412", "GET 200", "PATCH 200", "GET 200"]
    patches = [e for e in ws.log.entries if e.method == "PATCH"]
    assert patches[0].body == patches[1].body
    assert audiences_of(ws.flow("alpha")) == [A, B]
    converged(ws)


def test_a_planned_target_and_account_patch_survive_a_platform_write(logged_ws: Workspace) -> None:
    ws = logged_ws
    applied(ws, ("alpha.yaml", kinesis("alpha", [A])))
    target = target_of(ws, "alpha")
    account_id = target["baseConnectionId"]
    ws.write("alpha.yaml", kinesis("alpha", [A], stream="renamed"))  # the target's params
    ws.env["AWS_SECRET"] = "rotated-secret"  # the account's credentials
    for kind, object_id in (("targetConnections", target["id"]), ("connections", account_id)):
        on_first_patch(
            ws.emulator,
            f"/{kind}/{object_id}",
            partial(platform_write, ws.emulator, kind, object_id),
        )
    assert ws.log is not None
    ws.log.entries.clear()

    result = ws.apply()

    assert result.code == 0, result.err
    for path in (f"/targetConnections/{target['id']}", f"/connections/{account_id}"):
        assert statuses(ws, path)[:3] == ["PATCH 412", "GET 200", "PATCH 200"], path
    assert target_of(ws, "alpha")["params"]["stream"] == "renamed"
    converged(ws)


def test_a_412_after_another_clients_change_still_fails_that_dataflow(logged_ws: Workspace) -> None:
    ws = logged_ws
    applied(
        ws,
        ("alpha.yaml", kinesis("alpha", [A])),
        ("beta.yaml", kinesis("beta", [A], stream="b")),
    )
    alpha = ws.flow("alpha")["id"]
    ws.write("alpha.yaml", kinesis("alpha", [A, B]))
    ws.write("beta.yaml", kinesis("beta", [A, B], stream="b"))
    ui_edit = [
        {
            "op": "add",
            "path": f"{SEGMENT_SELECTORS}/-",
            "value": {"type": "PLATFORM_SEGMENT", "value": {"id": F}},
        }
    ]
    on_first_patch(
        ws.emulator,
        f"/flows/{alpha}",
        lambda: ws.emulator.resources.outside_edit("flows", "prod", alpha, ui_edit),
    )
    assert ws.log is not None
    ws.log.entries.clear()

    result = ws.apply()

    assert result.code == 1
    assert "error: dataflow alpha: " in result.err
    assert "The object changed since it was read; run plan again." in result.err
    # read once to judge it, never written over the other client's change
    assert statuses(ws, f"/flows/{alpha}") == ["PATCH 412", "GET 200"]
    assert audiences_of(ws.flow("alpha")) == [A, F]
    assert audiences_of(ws.flow("beta")) == [A, B]  # the other dataflow is applied


# (d): from another checkout ---------------------------------------------------------------


def test_a_saved_plan_made_in_one_checkout_applies_from_a_copy_at_another_path(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (ws.root / "provisioner.yaml").write_text("manifests: [manifests/]\n")
    ws.write("alpha.yaml", kinesis("alpha", [A]))
    ws.write("beta.yaml", kinesis("beta", [A, B], stream="b", account="shared"))
    plan = saved(ws)  # the project's manifests: found by absolute path
    text = (ws.root / "plan.json").read_text()
    assert str(ws.root) not in text
    assert {i["manifest"] for i in plan["inputs"]} == {
        "manifests/alpha.yaml",
        "manifests/beta.yaml",
    }
    assert {c["spec"]["base_dir"] for c in plan["changes"] if c["type"] == "account"} == {
        "manifests"
    }
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "checkout"
    shutil.copytree(ws.root, elsewhere)
    copy = Workspace(elsewhere, ws.url, ws.emulator)
    copy.env = dict(ws.env)

    result = copy.run("apply", *PLAN)

    assert result.code == 0, result.err
    assert ": refused: " not in result.err  # no change of the saved plan refused
    assert sorted(f["name"] for f in ws.resources("flows")) == ["alpha", "beta"]
    converged(ws)


def test_a_saved_plan_applies_from_a_directory_below_the_project(ws: Workspace) -> None:
    (ws.root / "provisioner.yaml").write_text("manifests: [manifests/]\n")
    ws.write("alpha.yaml", kinesis("alpha", [A]))
    saved(ws, "manifests")
    below = ws.root / "ci"
    below.mkdir()
    runner = Workspace(below, ws.url, ws.emulator)
    runner.env = dict(ws.env)

    result = runner.run(
        "apply", "../manifests/alpha.yaml", "--plan", "../plan.json", "--auto-approve"
    )

    assert result.code == 0, result.err
    converged(ws)


# (e): fewer manifests than were planned ---------------------------------------------------


def test_apply_given_fewer_manifests_than_were_planned_is_refused_whole(ws: Workspace) -> None:
    applied(ws, ("gamma.yaml", kinesis("gamma", [A], stream="c")))
    ws.write("alpha.yaml", kinesis("alpha", [A]))
    ws.write("beta.yaml", kinesis("beta", [B], stream="b"))
    ws.write("gamma.yaml", kinesis("gamma", [A, C], stream="c"))
    saved(ws, "manifests")
    before = stored(ws.emulator)
    ws.emulator.requests.clear()

    result = ws.run("apply", "manifests/alpha.yaml", *PLAN)

    assert result.code == 1, result.out + result.err
    assert (
        "error: the plan holds changes from manifests this run does not read: "
        "account beta-account (from manifests/beta.yaml); "
        "dataflow beta (from manifests/beta.yaml); "
        "dataflow gamma (from manifests/gamma.yaml); "
        "give the manifests the plan was made from, or make a new plan (nothing was changed)"
    ) in result.err
    assert ws.emulator.requests["total"] == 0  # refused before any request
    assert stored(ws.emulator) == before


def test_an_account_change_needs_its_manifest_too(ws: Workspace) -> None:
    ws.env["BETA_SECRET"] = "beta-secret"
    applied(
        ws,
        ("alpha.yaml", kinesis("alpha", [A])),
        ("beta.yaml", kinesis("beta", [A], stream="b", secret="BETA_SECRET")),
    )
    ws.env["BETA_SECRET"] = "rotated"  # only beta's account changes
    plan = saved(ws, "manifests")
    assert [(c["type"], c["name"]) for c in plan["changes"]] == [("account", "beta-account")]
    before = stored(ws.emulator)

    result = ws.run("apply", "manifests/alpha.yaml", *PLAN)

    assert result.code == 1
    assert "account beta-account (from manifests/beta.yaml)" in result.err
    assert stored(ws.emulator) == before


def test_the_same_manifests_named_otherwise_apply(ws: Workspace) -> None:
    ws.write("alpha.yaml", kinesis("alpha", [A]))
    ws.write("beta.yaml", kinesis("beta", [B], stream="b"))
    saved(ws, "manifests")

    result = ws.run("apply", "./manifests/beta.yaml", "manifests/../manifests/alpha.yaml", *PLAN)

    assert result.code == 0, result.err
    converged(ws)


# (f): drift --------------------------------------------------------------------------------


def flow_change(outcome: Outcome, name: str) -> Json:
    changes: list[Json] = outcome.json["changes"]
    return next(c for c in changes if c["type"] == "flow" and c["name"] == name)


def test_the_platforms_own_write_is_not_drift(ws: Workspace) -> None:
    applied(
        ws,
        ("alpha.yaml", kinesis("alpha", [A])),
        ("beta.yaml", kinesis("beta", [A], stream="b")),
    )
    alpha, beta = ws.flow("alpha"), ws.flow("beta")
    platform_write(ws.emulator, "flows", alpha["id"])
    platform_write(ws.emulator, "targetConnections", alpha["targetConnectionIds"][0])
    ws.emulator.resources.outside_edit(
        "flows", "prod", beta["id"], [{"op": "replace", "path": "/description", "value": "UI"}]
    )
    ws.write("alpha.yaml", kinesis("alpha", [A, B]))

    plan = ws.plan("--format", "json")

    assert plan.code == 0, plan.err
    assert flow_change(plan, "alpha")["drift"] is False
    assert flow_change(plan, "beta")["drift"] is True  # the UI's edit still is
    drift = [w for w in plan.json["warnings"] if w["kind"] == "drift"]
    assert [w["names"] for w in drift] == [["beta"]]
    # The platform wrote last: a change, labelled as one nobody can attribute, never drift.
    assert flow_change(plan, "alpha")["unattributed"] is True
    assert flow_change(plan, "beta")["unattributed"] is False
    text = ws.plan().out
    assert "changed (unattributed)" in text and text.count("changed (unattributed)") == 1


# units: the digest and the last writer ---------------------------------------------------


FLOW: Json = {
    "id": "f",
    "name": "alpha",
    "description": "",
    "state": "enabled",
    "flowSpec": {"id": "spec"},
    "etag": '"1"',
    "updatedAt": 1,
    "updatedClient": "tool",
    "transformations": [
        {
            "params": {
                "segmentSelectors": {
                    "selectors": [
                        {"type": "PLATFORM_SEGMENT", "value": {"id": A, "name": "a"}},
                        {"type": "PLATFORM_SEGMENT", "value": {"id": B}},
                    ]
                },
                "profileSelectors": {
                    "selectors": [
                        {"type": "JSON_PATH", "value": {"path": "x.y", "operator": "EXISTS"}}
                    ]
                },
            }
        }
    ],
}


def rewritten(flow: Json, change: Callable[[Json], None]) -> Json:
    copy: Json = json.loads(json.dumps(flow))
    change(copy)
    return copy


def selectors(flow: Json, group: str) -> list[Json]:
    found: list[Json] = flow["transformations"][0]["params"][group]["selectors"]
    return found


def platform_noise(flow: Json) -> None:
    flow.update(etag='"2"', updatedAt=2, updatedClient=RUNS_CLIENT, lastRunDetails={"id": "r"})
    selectors(flow, "segmentSelectors")[0]["value"].update(createTime="1", updateTime="2")
    selectors(flow, "profileSelectors")[0]["value"]["mapping"] = {"source": "x.y"}


def reordered(flow: Json) -> None:
    selectors(flow, "segmentSelectors").reverse()


def renamed_audience(flow: Json) -> None:
    selectors(flow, "segmentSelectors")[1]["value"]["name"] = "b"


def disabled(flow: Json) -> None:
    flow["state"] = "disabled"


@pytest.mark.parametrize("change", [reordered, renamed_audience, disabled])
def test_the_digest_moves_with_what_the_tool_manages(change: Callable[[Json], None]) -> None:
    assert content_digest(rewritten(FLOW, change)) != content_digest(FLOW)


def test_the_digest_ignores_what_the_platform_writes_on_its_own() -> None:
    assert content_digest(rewritten(FLOW, platform_noise)) == content_digest(FLOW)


def test_an_accounts_digest_leaves_secrets_and_the_services_fields_out() -> None:
    account: Json = {
        "id": "c",
        "name": "acct",
        "description": "managed by provisioner",
        "connectionSpec": {"id": Kinesis.spec_id},
        "auth": {"params": {"region": "us-east-1", "secretKey": "xxxx", "accessKeyId": "k"}},
    }
    other = rewritten(account, lambda a: a["auth"]["params"].update(secretKey="yyyy"))
    dated = rewritten(account, lambda a: a["auth"]["params"].update(authorizedDate="2024-01-01"))
    moved = rewritten(account, lambda a: a["auth"]["params"].update(region="eu-west-1"))
    assert content_digest(other) == content_digest(dated) == content_digest(account)
    assert content_digest(moved) != content_digest(account)


def test_the_platforms_clients_never_count_as_the_last_writer() -> None:
    assert RUNS_CLIENT in PLATFORM_CLIENTS
    ran = rewritten(FLOW, platform_noise)
    target: Json = {"params": {"stream": "s"}, "updatedClient": "tool"}
    ui: Json = {"params": {"stream": "s"}, "updatedClient": "exc_app"}
    assert written_last_by({"tool"}, FLOW, target) is True
    assert written_last_by({"tool"}, ran, target) is None  # cannot tell
    assert written_last_by({"tool"}, ran, ui) is False  # the UI wrote the target
    # where it cannot tell: the digest recorded at apply decides, else no drift
    assert drifted(ran, target, "", {"tool"}) is False
    assert drifted(ran, target, digest_of(FLOW, target), {"tool"}) is False
    assert drifted(ran, target, digest_of(rewritten(FLOW, disabled), target), {"tool"}) is True


def test_plans_that_leave_the_machine_hold_no_local_path(workspace: Workspace) -> None:
    """The JSON and Markdown plans and a saved plan go to pull requests and artifacts: no
    absolute path of the checkout (manifest locations, the embedded emulator's data file)
    is in them, and the saved plan still applies."""
    ws = workspace
    ws.env = {k: v for k, v in ws.env.items() if not k.startswith("AEP_")}
    ws.write("orders.yaml", kinesis("orders", [], ["person.lastName"]))
    local = {str(ws.root), str(ws.root.resolve())}
    for output_format in ("json", "markdown"):
        shown = ws.run("plan", "manifests", "--emulator", "--format", output_format)
        assert shown.code == 0, shown.err
        assert not [path for path in local if path in shown.out]
    saved = ws.run("plan", "manifests", "--emulator", "--out", "reviewed.json")
    assert saved.code == 0, saved.err
    text = (ws.root / "reviewed.json").read_text(encoding="utf-8")
    assert not [path for path in local if path in text]
    assert json.loads(text)["target"]["url"] == ".provisioner/emulator.db"
    applied = ws.run(
        "apply", "manifests", "--emulator", "--plan", "reviewed.json", "--auto-approve"
    )
    assert applied.code == 0, applied.err
