"""End to end over loopback HTTP: apply, plan again, change, drift, and the guards."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.platform.ids import PROFILE_SELECTORS, SEGMENT_SELECTORS
from provisioner.state.marker import DEFAULT_PROJECT
from provisioner.state.writers import writer_mac
from tests.workspace import AUDIENCES, SECRETS, Workspace, event_hubs, kinesis

A, B, C, D, E, F = AUDIENCES


# What one dataflow stands on: its account and the profile base connection, the profile
# source, its target connection, and the flow itself.
ONE_DATAFLOW = {"connections": 2, "sourceConnections": 1, "targetConnections": 1, "flows": 1}


def converged(ws: Workspace) -> None:
    again = ws.plan("--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes." in again.out


def counts(ws: Workspace) -> dict[str, int]:
    return {
        kind: len(ws.resources(kind))
        for kind in ("connections", "sourceConnections", "targetConnections", "flows")
    }


def selectors(flow: dict[str, Any], group: str) -> list[Any]:
    return list(flow["transformations"][0]["params"][group]["selectors"])


def test_create_then_nothing_to_do(workspace: Workspace) -> None:
    ws = workspace
    ws.write(
        "orders.yaml",
        kinesis(
            "orders", [{"id": A, "name": "Buyers"}, B], ["person.lastName", "personalEmail.address"]
        ),
    )
    first = ws.plan("--detailed-exitcode")
    assert first.code == 2
    assert first.out.splitlines()[0] == (
        f"Target: {ws.url} (org EMULATOR0000000000000000@AdobeOrg, sandbox prod), "
        "URL from AEP_PLATFORM_URL"
    )
    applied = ws.apply()
    assert applied.code == 0, applied.err
    assert applied.out.splitlines()[0].startswith(f"Target: {ws.url}")
    flow = ws.flow("orders")
    assert [s["value"]["id"] for s in selectors(flow, "segmentSelectors")] == [A, B]
    assert selectors(flow, "segmentSelectors")[0]["value"]["name"] == "Buyers"
    assert [s["value"]["path"] for s in selectors(flow, "profileSelectors")] == [
        "person.lastName",
        "personalEmail.address",
    ]
    assert counts(ws) == ONE_DATAFLOW
    converged(ws)
    assert ws.apply().out.rstrip().endswith("(4 unchanged).")  # idempotent: nothing sent


def test_reordering_changes_nothing(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A, B, C], ["a.b", "c.d", "e.f"]))
    ws.apply()
    ws.write("orders.yaml", kinesis("orders", [C, A, B], ["e.f", "a.b", "c.d"]))
    converged(ws)


def test_keyed_update_sends_exactly_the_needed_ops(workspace: Workspace) -> None:
    ws = workspace
    ws.write(
        "orders.yaml", kinesis("orders", [{"id": A, "name": "One"}, B, C, D], ["a.b", "c.d", "e.f"])
    )
    ws.apply()
    ws.write(
        "orders.yaml",
        kinesis(
            "orders",
            [{"id": A, "name": "Renamed"}, C, E],
            ["a.b", "e.f", "g.h"],
            description="now described",
        ),
    )
    plan = ws.plan("--format", "json")
    (change,) = plan.json["changes"]
    assert (change["action"], change["type"], change["name"]) == ("update", "flow", "orders")
    assert change["audiences"] == {"add": [E], "remove": [B, D], "update": [A]}
    assert change["attributes"] == {"add": ["g.h"], "remove": ["c.d"]}
    removed_segment = {"type": "PLATFORM_SEGMENT", "value": {}}
    assert change["patch"] == [
        {"op": "replace", "path": "/description", "value": "now described"},
        {
            "op": "replace",
            "path": f"{SEGMENT_SELECTORS}/0",
            "value": {"type": "PLATFORM_SEGMENT", "value": {"id": A, "name": "Renamed"}},
        },
        {"op": "remove", "path": f"{SEGMENT_SELECTORS}/3", "value": removed_segment},
        {"op": "remove", "path": f"{SEGMENT_SELECTORS}/1", "value": removed_segment},
        {
            "op": "add",
            "path": f"{SEGMENT_SELECTORS}/-",
            "value": {"type": "PLATFORM_SEGMENT", "value": {"id": E}},
        },
        {
            "op": "remove",
            "path": f"{PROFILE_SELECTORS}/1",
            "value": {"type": "JSON_PATH", "value": {}},
        },
        {
            "op": "add",
            "path": f"{PROFILE_SELECTORS}/-",
            "value": {"type": "JSON_PATH", "value": {"path": "g.h", "operator": "EXISTS"}},
        },
    ]
    assert change["etag"] == ws.flow("orders")["etag"]
    text = ws.plan().out
    for line in (
        f"+ audience {E}",
        f"- audience {B}",
        f"- audience {D}",
        f'~ audience {A} "One" -> "Renamed"',
        "+ attribute g.h",
        "- attribute c.d",
        '~ description: "" -> "now described"',
    ):
        assert line in text
    patches_before = ws.emulator.requests["PATCH"]
    assert ws.apply().code == 0
    assert ws.emulator.requests["PATCH"] - patches_before == 1  # the flow's alone
    flow = ws.flow("orders")
    assert [s["value"]["id"] for s in selectors(flow, "segmentSelectors")] == [A, C, E]
    converged(ws)


def test_drift_is_shown_and_put_back(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], ["a.b"], description="mine"))
    ws.apply()
    flow = ws.flow("orders")
    ws.emulator.resources.outside_edit(
        "flows",
        "prod",
        flow["id"],
        [
            {
                "op": "add",
                "path": f"{SEGMENT_SELECTORS}/-",
                "value": {"type": "PLATFORM_SEGMENT", "value": {"id": F, "name": "Added in UI"}},
            },
            {"op": "replace", "path": "/description", "value": "edited in the UI"},
        ],
    )
    text = ws.plan("--detailed-exitcode")
    assert text.code == 2
    assert "# drift: changed outside provisioner since the last apply" in text.out
    assert f"- audience {F} Added in UI" in text.out
    assert '~ description: "edited in the UI" -> "mine"' in text.out
    assert ws.plan("--format", "json").json["changes"][0]["drift"] is True
    assert "Drift" in ws.plan("--format", "markdown").out
    ws.apply()
    converged(ws)
    assert ws.plan("--format", "json").json["changes"] == []


def _edit_in_the_ui(ws: Workspace, name: str) -> None:
    ws.emulator.resources.outside_edit(
        "flows",
        "prod",
        ws.flow(name)["id"],
        [{"op": "replace", "path": "/description", "value": "UI"}],
    )


def _drift(ws: Workspace) -> list[bool]:
    return [c["drift"] for c in ws.plan("--format", "json").json["changes"]]


def test_an_update_writes_the_flow_alone_and_drift_is_still_told(workspace: Workspace) -> None:
    """The platform records who last wrote each object (`updatedClient`): that tells a later
    plan what the tool did, so an update writes nothing but its one PATCH."""
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    patches, target_etag = ws.emulator.requests["PATCH"], ws.resources("targetConnections")[0]
    assert ws.apply().code == 0
    assert ws.emulator.requests["PATCH"] - patches == 1
    assert ws.resources("targetConnections")[0]["etag"] == target_etag["etag"]
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))
    assert _drift(ws) == [False]  # a manifest change, not one made outside
    _edit_in_the_ui(ws, "orders")
    assert _drift(ws) == [True]
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert _drift(ws) == [False]


def _listing_clients(ws: Workspace, *clients: str) -> None:
    """A project file whose environment `prod` lists the tool's other clients, selected."""
    listed = ", ".join(clients)
    (ws.root / "provisioner.yaml").write_text(
        f"environments:\n  prod:\n    sandbox: prod\n    clients: [{listed}]\n",
        encoding="utf-8",
    )
    ws.env["PROVISIONER_ENV"] = "prod"


def test_a_plan_with_read_only_credentials_tells_drift_as_the_apply_does(
    workspace: Workspace,
) -> None:
    """Pull requests planned with another client than the merge applies with: the project
    file lists the apply client for the environment, so that plan labels the same drift,
    and the saved plan it makes is applied whole."""
    ws = workspace
    _listing_clients(ws, DEFAULT_CLIENT_ID)
    ws.emulator.config.clients["pr-reader"] = ("reader-secret", DEFAULT_ORG)
    reader = {**ws.env, "AEP_CLIENT_ID": "pr-reader", "AEP_CLIENT_SECRET": "reader-secret"}
    applier = dict(ws.env)
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))
    ws.env = reader
    assert _drift(ws) == [False]
    assert ws.plan("--out", "reviewed.json").code == 0
    ws.env = applier
    applied = ws.run("apply", "manifests", "--plan", "reviewed.json", "--auto-approve")
    assert applied.code == 0, applied.err
    _edit_in_the_ui(ws, "orders")
    ws.write("orders.yaml", kinesis("orders", [A]))
    for env in (reader, applier):
        ws.env = env
        assert _drift(ws) == [True]


def test_a_plan_with_an_unlisted_client_reads_the_apply_as_drift(workspace: Workspace) -> None:
    """Nothing on the platform makes a client the tool's (whoever made a marked object
    could be anyone): unlisted, the apply client's writes read as drift to another client."""
    ws = workspace
    ws.emulator.config.clients["pr-reader"] = ("reader-secret", DEFAULT_ORG)
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))
    ws.env = {**ws.env, "AEP_CLIENT_ID": "pr-reader", "AEP_CLIENT_SECRET": "reader-secret"}
    assert _drift(ws) == [True]


@pytest.mark.parametrize(
    ("known", "first_apply", "later"),
    [("listed", 1, 1), ("recorded", 2, 1), ("neither", 2, 2)],
)
def test_writes_recorded_under_another_name_than_the_client_id(
    workspace: Workspace, known: str, first_apply: int, later: int
) -> None:
    """A platform that records the tool's writes under another name than AEP_CLIENT_ID (a
    technical account's, say). Listed in the environment's `clients`, it is the tool's and
    an update is one write. With PROVISIONER_FINGERPRINT_KEY, the first apply records the
    name in the account's marker under that key (one more write), and later applies know
    it. Otherwise apply cannot tell its own write, so it records a digest each time (one
    more write). Drift is told right in every case."""
    ws = workspace
    techacct = "techacct-1@techacct.adobe.com"
    if known == "listed":
        _listing_clients(ws, techacct)
    if known == "recorded":
        ws.env["PROVISIONER_FINGERPRINT_KEY"] = "operator-key"
    ws.emulator.config.recorded_as[DEFAULT_CLIENT_ID] = techacct
    ws.write("orders.yaml", kinesis("orders", [A]))
    patches = ws.emulator.requests["PATCH"]
    assert ws.apply().code == 0
    assert ws.emulator.requests["PATCH"] - patches == first_apply
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    patches = ws.emulator.requests["PATCH"]
    assert ws.apply().code == 0
    assert ws.emulator.requests["PATCH"] - patches == later
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))
    assert _drift(ws) == [False]
    _edit_in_the_ui(ws, "orders")
    assert _drift(ws) == [True]


@pytest.mark.parametrize("made_with", ["operator-key", "another-key"])
def test_a_recorded_writer_is_believed_only_with_the_operators_key(
    workspace: Workspace, made_with: str
) -> None:
    """Anyone can write an account's description: a writer record that the operator's key
    did not make (forged, or made with another key) never makes that client's edits the
    tool's; one it made does."""
    ws = workspace
    ws.env["PROVISIONER_FINGERPRINT_KEY"] = "operator-key"
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    [account] = [c for c in ws.resources("connections") if "account=" in c["description"]]
    mac = writer_mac(made_with, DEFAULT_PROJECT, None, account["id"], "intruder")
    recorded = f"{account['description']}; writer.intruder={mac}"
    ws.emulator.resources.outside_edit(
        "connections",
        "prod",
        account["id"],
        [{"op": "add", "path": "/description", "value": recorded}],
    )
    flow_id = ws.flow("orders")["id"]
    edit = [{"op": "replace", "path": "/description", "value": "edited"}]
    edited = ws.emulator.resources.outside_edit("flows", "prod", flow_id, edit)
    ws.emulator.store.put("flows", "prod", {**edited, "updatedClient": "intruder"})
    assert _drift(ws) == [made_with != "operator-key"]


def test_without_the_platforms_record_of_writers_a_digest_is_recorded(
    writerless_workspace: Workspace,
) -> None:
    """A platform whose objects do not carry `updatedClient`: apply records a digest of what
    it applied on the target connection (one more write), and drift is told by it."""
    ws = writerless_workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [A, B]))
    patches = ws.emulator.requests["PATCH"]
    assert ws.apply().code == 0
    assert ws.emulator.requests["PATCH"] - patches == 2  # the flow, and the digest
    assert "applied=" in ws.resources("targetConnections")[0]["description"]
    ws.write("orders.yaml", kinesis("orders", [A, B, C]))
    assert _drift(ws) == [False]
    _edit_in_the_ui(ws, "orders")
    assert _drift(ws) == [True]


def test_a_flow_renamed_in_the_ui_is_renamed_back_not_duplicated(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.apply()
    flow_id = ws.flow("orders")["id"]
    ws.emulator.resources.outside_edit(
        "flows", "prod", flow_id, [{"op": "replace", "path": "/name", "value": "orders (renamed)"}]
    )
    assert '~ name: "orders (renamed)" -> "orders"' in ws.plan().out
    ws.apply()
    assert ws.flow("orders")["id"] == flow_id
    assert counts(ws)["flows"] == 1


def test_enabled_is_an_action_not_a_patch(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], enabled=False))
    ws.apply()
    assert ws.flow("orders")["state"] == "disabled"
    ws.write("orders.yaml", kinesis("orders", [A], enabled=True))
    assert "~ enabled: false -> true" in ws.plan().out
    ws.apply()
    assert ws.flow("orders")["state"] == "enabled"
    converged(ws)


def test_shared_account_is_one_connection(workspace: Workspace) -> None:
    ws = workspace
    ws.write(
        "a.yaml",
        kinesis("a", [A], account="shared")
        + "---\n"
        + kinesis("b", [B], account="shared", stream="other"),
    )
    ws.apply()
    accounts = [c for c in ws.resources("connections") if c["name"] == "shared"]
    assert len(accounts) == 1
    targets = ws.resources("targetConnections")
    assert {t["baseConnectionId"] for t in targets} == {accounts[0]["id"]}
    converged(ws)


def test_target_params_change_is_a_target_update(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.apply()
    ws.write("orders.yaml", kinesis("orders", [A], stream="orders-v2"))
    change = ws.plan("--format", "json").json["changes"][0]
    assert (change["action"], change["type"]) == ("update", "target")
    assert change["patch"] == [
        {
            "op": "replace",
            "path": "/params",
            "value": {"stream": "orders-v2", "region": "us-east-1"},
        }
    ]
    ws.apply()
    assert ws.resources("targetConnections")[0]["params"]["stream"] == "orders-v2"
    converged(ws)


def test_changing_the_destination_type_is_a_loud_replace(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.apply()
    old = ws.flow("orders")["id"]
    ws.write("orders.yaml", event_hubs("orders", [A]))
    plan = ws.plan()
    assert "-/+ dataflow orders" in plan.out
    assert "replace: the destination type changes (amazon-kinesis to azure-event-hubs)" in plan.out
    assert "Warning: Destructive" in plan.out
    assert ws.apply().code == 0
    assert ws.flow("orders")["id"] != old
    assert counts(ws)["targetConnections"] == 1
    converged(ws)


def test_credential_rotation_is_sensitive_and_applied(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.apply()
    account = next(c for c in ws.resources("connections") if c["name"] == "orders-account")
    ws.env["AWS_SECRET"] = "rotated-canary-5e5e"
    plan = ws.plan("--detailed-exitcode")
    assert plan.code == 2
    assert "~ credentials: (sensitive) -> (sensitive)" in plan.out
    assert "Warning: Credentials: 1 account(s) get new credentials: orders-account" in plan.out
    assert "rotated-canary-5e5e" not in plan.out + plan.err
    ws.apply()
    stored = next(c for c in ws.resources("connections") if c["id"] == account["id"])
    # the emulator keeps a digest of the new secret, never the secret itself
    digest = ws.emulator.store.secret_digest("rotated-canary-5e5e")
    assert stored["auth"]["params"]["secretKey"] == digest
    converged(ws)


def test_secrets_are_checked_before_any_call(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], secret="MISSING_SECRET"))
    before = ws.emulator.requests["total"]
    result = ws.plan()
    assert result.code == 1
    assert "environment variable MISSING_SECRET is not set" in result.err
    assert "orders.yaml:11:16" in result.err
    assert ws.emulator.requests["total"] == before


def test_apply_refuses_without_a_terminal_or_consent(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    result = ws.run("apply", "manifests")
    assert result.code == 1
    assert "apply needs confirmation" in result.err
    assert ws.resources("flows") == []


def test_patch_answered_202_without_a_body(workspace: Workspace) -> None:
    ws = workspace
    ws.emulator.config.patch_status = 202
    ws.emulator.config.delete_status = 204
    ws.write("orders.yaml", kinesis("orders", [A, B], ["a.b"]))
    assert ws.apply().code == 0
    ws.write("orders.yaml", kinesis("orders", [B, C], ["c.d"]))
    assert ws.apply().code == 0
    converged(ws)
    assert [s["value"]["id"] for s in selectors(ws.flow("orders"), "segmentSelectors")] == [B, C]


def test_no_secret_in_any_output(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]) + "---\n" + event_hubs("hub", [B]))
    outputs = [
        ws.plan(),
        ws.plan("--format", "json"),
        ws.plan("--format", "markdown"),
        ws.plan("--out", "saved.json"),
        ws.run("--debug", "apply", "manifests", "--auto-approve"),
    ]
    saved = (ws.root / "saved.json").read_text(encoding="utf-8")
    everything = "".join(o.out + o.err for o in outputs) + saved
    assert "debug: provisioner.http: POST" in everything
    for secret in SECRETS.values():
        if "canary" in secret:
            assert secret not in everything
    assert "${env:AWS_SECRET}" in saved


def test_a_pipeline_without_a_target_is_refused(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.env = {"CI": "true", **SECRETS}  # the pipeline's AEP credentials went missing
    result = ws.plan()
    assert result.code == 1
    assert "no target: CI is set" in result.err
    assert not (ws.root / ".provisioner").exists()  # the emulator was not used either


def test_sandboxes_are_kept_apart(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply("--sandbox", "dev").code == 0
    assert ws.resources("flows", sandbox="dev") and not ws.resources("flows")
    assert "sandbox prod" in ws.plan().out.splitlines()[0]
    assert ws.plan("--detailed-exitcode").code == 2  # prod still has nothing
    assert ws.plan("--sandbox", "dev", "--detailed-exitcode").code == 0
