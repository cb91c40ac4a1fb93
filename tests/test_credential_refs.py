"""The reviewer sees where each credential comes from; plan files and markers reveal nothing.

Plans show each credential field's reference (`${env:KINESIS_SECRET_KEY}`), never its
value, and a change of reference is a change even when the value is the same: the account's
marker records the references (`ref.secretKey=${env:…}`). Credential fingerprints are keyed
with PROVISIONER_FINGERPRINT_KEY, required under CI; a digest made without it is recognised
once and rewritten keyed, never shown as a credentials change. A marker of the previous
release (no references, an unkeyed digest) plans as no change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from provisioner.emulator.identity import DEFAULT_ORG
from provisioner.fields.secrets import SecretRef
from provisioner.plan.model import (
    SENSITIVE,
    AccountChange,
    FieldChange,
    Plan,
    PlanTarget,
    Summary,
)
from provisioner.render import render_json, render_markdown, render_text
from provisioner.state.desired import DesiredAccount, DesiredState, fingerprint
from provisioner.state.marker import read_marker
from tests.test_upgrade import old_applied, previous_release  # noqa: F401 (a fixture)
from tests.workspace import AUDIENCES, SECRETS, Outcome, Workspace, event_hubs, kinesis

A, B = AUDIENCES[:2]
KEY = "PROVISIONER_FINGERPRINT_KEY"
Json = dict[str, Any]


def account_changes(ws: Workspace, *args: str) -> list[Json]:
    outcome = ws.plan("--format", "json", *args)
    assert outcome.code == 0, outcome.err
    return [c for c in outcome.json["changes"] if c["type"] == "account"]


def the_account(ws: Workspace, name: str = "orders-account") -> Json:
    [found] = [c for c in ws.resources("connections") if c["name"] == name]
    return found


def marker_of(ws: Workspace, name: str = "orders-account") -> dict[str, str]:
    fields = read_marker(the_account(ws, name))
    assert fields is not None
    return fields


def no_secret_in(*outcomes: Outcome) -> None:
    shown = "".join(o.out + o.err for o in outcomes)
    assert not [value for value in SECRETS.values() if value in shown]


def converged(ws: Workspace) -> None:
    check = ws.plan("--detailed-exitcode")
    assert check.code == 0, check.out + check.err


# where each credential comes from ------------------------------------------------------


def test_a_new_account_shows_each_credentials_reference_never_its_value(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    ws.write("hub.yaml", event_hubs("hub", [B]))

    changes = account_changes(ws)
    text, markdown = ws.plan(), ws.plan("--format", "markdown")

    assert {c["name"]: c["fields"] for c in changes} == {
        "hub-account": [
            {"path": "credentials.sasKeyName", "before": None, "after": "${env:SAS_NAME}",
             "sensitive": True},
            {"path": "credentials.sasKey", "before": None, "after": "${env:SAS_KEY}",
             "sensitive": True},
        ],
        "orders-account": [
            {"path": "credentials.accessKeyId", "before": None, "after": "${env:AWS_KEY_ID}",
             "sensitive": True},
            {"path": "credentials.secretKey", "before": None, "after": "${env:AWS_SECRET}",
             "sensitive": True},
        ],
    }  # fmt: skip
    for shown in (text.out, markdown.out):
        assert '+ credentials.accessKeyId: "${env:AWS_KEY_ID}"' in shown
        assert '+ credentials.secretKey: "${env:AWS_SECRET}"' in shown
        assert '+ credentials.sasKey: "${env:SAS_KEY}"' in shown
    no_secret_in(text, markdown)


def test_the_marker_records_the_references_and_nothing_else_changes(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0

    fields = marker_of(ws)

    assert fields["ref.accessKeyId"] == "${env:AWS_KEY_ID}"
    assert fields["ref.secretKey"] == "${env:AWS_SECRET}"
    assert not [v for v in SECRETS.values() if v in the_account(ws)["description"]]
    converged(ws)


def test_a_change_of_reference_is_a_change_even_when_the_value_is_the_same(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    stored = the_account(ws)["auth"]["params"]
    ws.env["KINESIS_SECRET_KEY"] = SECRETS["AWS_SECRET"]  # the same secret, elsewhere
    ws.write("orders.yaml", kinesis("orders", [A], secret="KINESIS_SECRET_KEY"))

    [change] = account_changes(ws)
    text = ws.plan("--detailed-exitcode")
    markdown = ws.plan("--format", "markdown")

    assert change["action"] == "update"
    assert change["fields"] == [
        {
            "path": "credentials.secretKey",
            "before": "${env:AWS_SECRET}",
            "after": "${env:KINESIS_SECRET_KEY}",
            "sensitive": True,
        }
    ]
    assert text.code == 2
    shown = 'credentials.secretKey: "${env:AWS_SECRET}" -> "${env:KINESIS_SECRET_KEY}"'
    assert f"~ {shown}" in text.out
    assert f"! {shown}" in markdown.out  # a diff block marks what changes in place with '!'
    assert "Warning: Credentials: 1 account(s) get new credentials: orders-account" in text.out
    no_secret_in(text, markdown)
    assert ws.apply().code == 0
    assert marker_of(ws)["ref.secretKey"] == "${env:KINESIS_SECRET_KEY}"
    assert the_account(ws)["auth"]["params"] == stored  # the same value: not written again
    converged(ws)


def test_a_new_reference_to_a_new_value_shows_both(workspace: Workspace) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.env["KINESIS_SECRET_KEY"] = "rotated-canary-0a0a"
    ws.write("orders.yaml", kinesis("orders", [A], secret="KINESIS_SECRET_KEY"))

    [change] = account_changes(ws)

    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [
        ("credentials", SENSITIVE, SENSITIVE),
        ("credentials.secretKey", "${env:AWS_SECRET}", "${env:KINESIS_SECRET_KEY}"),
    ]
    assert ws.apply().code == 0
    digest = ws.emulator.store.secret_digest("rotated-canary-0a0a")
    assert the_account(ws)["auth"]["params"]["secretKey"] == digest
    converged(ws)


def test_a_marker_without_references_is_no_change_and_gets_them_when_written(
    workspace: Workspace,
) -> None:
    """As the previous release left it: the references are recorded at the next write."""
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    account = the_account(ws)
    without = "; ".join(p for p in account["description"].split("; ") if not p.startswith("ref."))
    ws.emulator.store.put("connections", "prod", {**account, "description": without})
    assert "ref." not in the_account(ws)["description"]

    converged(ws)

    ws.write("orders.yaml", kinesis("orders", [A], region="eu-west-1"))
    assert ws.apply().code == 0
    assert marker_of(ws)["ref.secretKey"] == "${env:AWS_SECRET}"
    converged(ws)


def test_what_a_marker_records_is_believed_only_when_it_reads_as_a_reference(
    workspace: Workspace,
) -> None:
    """Anyone can edit a description: text that is no reference is not shown as one."""
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    account = the_account(ws)
    forged = account["description"].replace("${env:AWS_SECRET}", "hunter2")
    ws.emulator.store.put("connections", "prod", {**account, "description": forged})

    [change] = account_changes(ws)

    assert change["fields"] == [
        {"path": "credentials.secretKey", "before": None, "after": "${env:AWS_SECRET}",
         "sensitive": True}
    ]  # fmt: skip


def test_renderings_show_a_sensitive_value_only_when_it_is_a_reference() -> None:
    value, old = "wJalrXUtnFEMI-secret", "AKIA-old-secret"
    change = AccountChange(
        action="update",
        name="acc",
        sensitive=True,
        fields=[
            FieldChange(path="credentials.secretKey", before=old, after=value, sensitive=True),
            FieldChange(
                path="credentials.accessKeyId", before=value, after="${env:X}", sensitive=True
            ),
            FieldChange(
                path="credentials.sasKey", before="${file:a}", after="${env:B}", sensitive=True
            ),
        ],
    )
    target = PlanTarget(kind="platform", url="https://platform.adobe.io", org="O", sandbox="prod")
    plan = Plan(target=target, summary=Summary(update=1), changes=[change])

    text, markdown = render_text(plan), render_markdown(plan)
    fields = json.loads(render_json(plan))["changes"][0]["fields"]

    for shown in (text, markdown, json.dumps(fields)):
        assert value not in shown and old not in shown
    assert "~ credentials.secretKey: (sensitive) -> (sensitive)" in text
    assert "~ credentials.accessKeyId: (sensitive) -> (sensitive)" in text
    assert '~ credentials.sasKey: "${file:a}" -> "${env:B}"' in text
    assert [(f["before"], f["after"]) for f in fields] == [
        (SENSITIVE, SENSITIVE),
        (SENSITIVE, SENSITIVE),
        ("${file:a}", "${env:B}"),
    ]


# the fingerprint's key -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_under_ci_without_the_key_a_run_with_credentials_stops(
    recorded_workspace: Workspace, command: str
) -> None:
    ws = recorded_workspace
    ws.env["CI"] = "true"
    ws.write("orders.yaml", kinesis("orders", [A]))

    result = ws.plan() if command == "plan" else ws.apply()

    assert result.code == 1
    assert KEY in result.err
    assert ws.log is not None and not ws.log.writes()
    assert not ws.resources("connections") and not ws.resources("flows")


@pytest.mark.parametrize("ci", ["false", "0", ""])
def test_ci_counts_only_when_set_to_something_but_false_or_0(workspace: Workspace, ci: str) -> None:
    ws = workspace
    ws.env["CI"] = ci
    ws.write("orders.yaml", kinesis("orders", [A]))

    assert ws.plan().code == 0


def test_under_ci_a_run_with_no_credentials_to_fingerprint_needs_no_key(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.env["CI"] = "true"

    result = ws.run("destroy", "manifests", "--auto-approve")

    assert result.code == 0, result.err
    assert not ws.resources("flows")


def test_with_the_key_a_plan_file_holds_nothing_to_check_a_guess_against(
    workspace: Workspace,
) -> None:
    """Without the key, the fingerprint is salted with what the plan itself holds (org,
    sandbox, account): a right guess of the secrets can be confirmed offline. With it, not."""
    ws = workspace
    ws.env.update({"CI": "true", KEY: "operator-key"})
    ws.write("orders.yaml", kinesis("orders", [A]))

    assert ws.plan("--out", "plan.json").code == 0

    saved = json.loads((ws.root / "plan.json").read_text(encoding="utf-8"))
    [spec] = [c["spec"] for c in saved["changes"] if c["type"] == "account"]
    guessed = _account(spec["credentials"], {k: SECRETS[k] for k in ("AWS_KEY_ID", "AWS_SECRET")})
    salted = fingerprint(guessed, saved["target"]["org"], saved["target"]["sandbox"], None)
    assert spec["fingerprint"] != salted
    assert spec["fingerprint"] == fingerprint(guessed, "", "", "operator-key")


def _account(references: dict[str, str], values: dict[str, str]) -> DesiredAccount:
    credentials = {key: SecretRef.parse(ref) for key, ref in references.items()}
    for ref in credentials.values():
        ref.resolve(Path("."), values)
    return DesiredAccount("orders-account", "amazon-kinesis", {}, credentials, ".")


def test_a_digest_made_without_the_key_is_rewritten_once_never_a_credentials_change(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    unkeyed = marker_of(ws)["fingerprint"]
    ws.env.update({"CI": "true", KEY: "operator-key"})

    plan = ws.plan("--format", "json")
    text = ws.plan()

    [change] = plan.json["changes"]
    assert (change["type"], change["action"], change["sensitive"]) == ("account", "update", False)
    assert change["fields"] == [
        {"path": "fingerprint", "before": "unkeyed", "after": "keyed", "sensitive": False}
    ]
    assert KEY in change["reason"]
    assert "credentials" not in [w["kind"] for w in plan.json["warnings"]]
    assert '~ fingerprint: "unkeyed" -> "keyed"' in text.out
    assert "(sensitive)" not in text.out
    assert ws.apply().code == 0
    assert marker_of(ws)["fingerprint"] not in ("", unkeyed)
    converged(ws)


def test_a_renamed_account_made_without_the_key_is_no_credentials_change(
    workspace: Workspace,
) -> None:
    """The account follows its dataflow's rename: its old digest was salted with its old
    name. Recognised, and rewritten with the rename."""
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A]))
    assert ws.apply().code == 0
    ws.env[KEY] = "operator-key"
    ws.write("orders.yaml", kinesis("purchases", [A]) + "renamedFrom: [orders]\n")

    [change] = account_changes(ws)

    assert change["name"] == "purchases-account"
    assert "credentials" not in [f["path"] for f in change["fields"]]
    assert not change["sensitive"]
    assert ws.apply().code == 0
    converged(ws)


def test_the_previous_releases_accounts_show_one_refresh_when_the_key_is_newly_set(
    workspace: Workspace,
    previous_release: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    ws = workspace
    ws.write("orders.yaml", kinesis("orders", [A], account="shared"))
    ws.write("hub.yaml", event_hubs("hub", [B]))
    old_applied(ws, previous_release)
    converged(ws)  # without the key: no change at all
    ws.env.update({"CI": "true", KEY: "operator-key"})

    changes = ws.plan("--format", "json").json["changes"]

    assert sorted((c["type"], c["name"], c["action"]) for c in changes) == [
        ("account", "hub-account", "update"),
        ("account", "shared", "update"),
    ]
    assert all(c["fields"] == [_REFRESH] and not c["sensitive"] for c in changes)
    assert ws.apply().code == 0
    converged(ws)
    assert marker_of(ws, "shared")["ref.secretKey"] == "${env:AWS_SECRET}"


_REFRESH = {"path": "fingerprint", "before": "unkeyed", "after": "keyed", "sensitive": False}


def test_the_fingerprint_under_the_key_does_not_depend_on_the_account_name() -> None:
    account = _account({"sasKey": "${env:K}"}, {"K": "v"})
    state = DesiredState(org=DEFAULT_ORG, sandbox="prod", key_material="operator-key")
    keyed = fingerprint(account, DEFAULT_ORG, "prod", "operator-key")
    renamed = DesiredAccount("other", account.type, {}, account.credentials, ".")

    assert fingerprint(renamed, DEFAULT_ORG, "prod", "operator-key") == keyed
    # what a marker made under the old name without the key holds
    assert state.fingerprint_as(account, "other") == fingerprint(renamed, DEFAULT_ORG, "prod", None)


# no absolute local path ------------------------------------------------------------------


def test_a_json_plan_names_the_manifests_directory_relative_not_absolute(
    workspace: Workspace,
) -> None:
    ws = workspace
    (ws.root / "provisioner.yaml").write_text("manifests: [manifests/]\n", encoding="utf-8")
    (ws.root / "manifests" / "access-key").write_text("AKIAFILE\n", encoding="utf-8")
    text = kinesis("orders", [A]).replace("${env:AWS_KEY_ID}", "${file:access-key}")
    ws.write("orders.yaml", text)
    (ws.root / "ci").mkdir()
    below = Workspace(ws.root / "ci", ws.url, ws.emulator)
    below.env = dict(ws.env)

    for where, expected in ((ws, "manifests"), (below, "manifests")):
        [change] = _accounts_from(where)
        assert change["spec"]["base_dir"] == expected
        assert not os.path.isabs(change["spec"]["base_dir"])

    result = below.run("apply", "--auto-approve")  # resolved back from where it runs
    assert result.code == 0, result.err
    assert the_account(ws)["auth"]["params"]["accessKeyId"] == "AKIAFILE"  # not secret there


def _accounts_from(ws: Workspace) -> list[Json]:
    outcome = ws.run("plan", "--format", "json")
    assert outcome.code == 0, outcome.err
    return [c for c in outcome.json["changes"] if c["type"] == "account"]
