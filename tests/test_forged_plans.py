"""Forged saved plans, end to end over loopback HTTP: no edit to a plan file makes
`apply --plan` do anything a fresh plan would not.

One sandbox is set up per module (managed dataflows, one made by hand, a saved plan) and
restored before each test. Every forgery recomputes the checksum as `plan --out` does
(`Plan.sealed`), and the per-dataflow ones are also signed with the right
PROVISIONER_PLAN_KEY, so what refuses them is the re-plan alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import serving
from provisioner.plan.model import Plan
from provisioner.platform import client as client_module
from provisioner.platform.client import RetryPolicy
from tests.contract.recording import RequestLog
from tests.emulator_support import Api, Chain
from tests.workspace import AUDIENCES, Outcome, Workspace, event_hubs, kinesis

A, B, C, D, E, F = AUDIENCES
KINDS = ("connections", "sourceConnections", "targetConnections", "flows")
PLAN_KEY = "plan-key-for-forgery-tests"
PII = ["personalEmail.address", "homePhone.number", "person.birthDate"]
CANARY = "other-value-canary-5e1f"
MANIFESTS = {
    "alpha.yaml": kinesis("alpha", [A, B], ["person.name.firstName"], stream="a"),
    "beta.yaml": kinesis("beta", [A, C], stream="b", enabled=False),
    "gamma.yaml": kinesis("gamma", [B], stream="c"),
    "delta.yaml": event_hubs("delta", [A]),
}
ATTRIBUTES = {"person.name.firstName"}  # every attribute the manifests export
Json = dict[str, Any]
Snapshot = dict[str, dict[str, str]]  # kind -> id -> the resource as stored, as JSON


@dataclass
class Sandbox:
    """The served emulator as the plan found it, the plan, and a second emulator that must
    never be reached."""

    ws: Workspace
    log: RequestLog
    other: EmulatorApp
    other_url: str
    foreign: str  # the id of the dataflow made by hand
    before: Snapshot
    text: str  # the saved plan as `plan --out` wrote it (unsigned)
    other_requests: list[str] = field(default_factory=list)

    @property
    def plan(self) -> Json:
        parsed: Json = json.loads(self.text)
        return parsed

    @property
    def path(self) -> Path:
        return self.ws.root / "plan.json"

    def apply(self, text: str, key: str | None = None, *options: str) -> Outcome:
        self.path.write_text(text)
        self.ws.env.pop("PROVISIONER_PLAN_KEY", None)
        if key is not None:
            self.ws.env["PROVISIONER_PLAN_KEY"] = key
        return self.ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve", *options)

    def flow_id(self, name: str) -> str:
        return str(self.ws.flow(name)["id"])

    def writes(self) -> list[str]:
        return [f"{e.method} {e.path}" for e in self.log.writes()]


def snapshot(app: EmulatorApp) -> Snapshot:
    return {
        kind: {
            str(resource["id"]): json.dumps(resource, sort_keys=True)
            for _, resource in sorted(app.store.entries(kind, "prod"), key=lambda e: e[0])
        }
        for kind in KINDS
    }


def restore(app: EmulatorApp, saved: Snapshot) -> None:
    store = app.store
    with store.transaction():
        for kind in KINDS:
            for _, resource in store.entries(kind, "prod"):
                store.delete(kind, "prod", str(resource["id"]))
            for text in saved[kind].values():
                store.put(kind, "prod", json.loads(text))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("forged")
    app, other = EmulatorApp(), EmulatorApp()
    log = RequestLog(app)
    with (
        pytest.MonkeyPatch.context() as patch,
        serving(app) as url,
        serving(other) as other_url,
    ):
        patch.setattr(
            client_module,
            "DEFAULT_POLICY",
            RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01),
        )
        ws = Workspace(root, url, app)
        # applied once: alpha, beta (disabled), gamma; then the manifests move on
        ws.write("alpha.yaml", kinesis("alpha", [A], ["person.name.firstName"], stream="a"))
        ws.write("beta.yaml", kinesis("beta", [A], stream="b", enabled=False))
        ws.write("gamma.yaml", kinesis("gamma", [B], stream="c"))
        assert ws.apply().code == 0
        with httpx.Client(base_url=url) as client:
            foreign = Chain(Api(client), "made by hand").flow
        for name, text in MANIFESTS.items():
            ws.write(name, text)
        made = ws.plan("--out", "plan.json")
        assert made.code == 0, made.err
        text = (root / "plan.json").read_text()
        box = Sandbox(ws, log, other, other_url, foreign, snapshot(app), text)
        other.observers.append(lambda _n, method, path: box.other_requests.append(method + path))
        yield box


@pytest.fixture
def box(prepared: Sandbox) -> Sandbox:
    """The sandbox as the plan found it, no request recorded yet."""
    restore(prepared.ws.emulator, prepared.before)
    prepared.log.entries.clear()
    prepared.ws.emulator.requests.clear()
    prepared.other_requests.clear()
    prepared.ws.env.pop("PROVISIONER_PLAN_KEY", None)
    return prepared


# forging ------------------------------------------------------------------------------


Edit = Callable[[Json, Sandbox], None]


def sealed(data: Json, key: str | None = None) -> str:
    """The plan as `plan --out` writes it: checksum (and signature) recomputed."""
    plan = Plan.model_validate(data).sealed(key.encode() if key else None)
    return json.dumps(plan.as_json(), indent=2)


def forged(box: Sandbox, edit: Edit, key: str | None = None) -> str:
    data = box.plan
    edit(data, box)
    return sealed(data, key)


def change(data: Json, type_: str, name: str) -> Json:
    found: list[Json] = [c for c in data["changes"] if c["type"] == type_ and c["name"] == name]
    assert len(found) == 1, f"{type_} {name}"
    return found[0]


def delete_change(name: str, resource_id: str) -> Json:
    return {
        "action": "delete",
        "type": "flow",
        "name": name,
        "id": resource_id,
        "destructive": True,
    }


# the outcomes ---------------------------------------------------------------------------


def exported_attributes(box: Sandbox) -> set[str]:
    return {
        str(selector["value"]["path"])
        for flow in box.ws.resources("flows")
        for selector in flow["transformations"][0]["params"]["profileSelectors"]["selectors"]
    }


def units_of(plan: Json) -> dict[str, list[Json]]:
    units: dict[str, list[Json]] = {}
    for item in plan["changes"]:
        kind = "account" if item["type"] == "account" else "dataflow"
        unit = "profile source" if item["type"] == "source" else f"{kind} {item['name']}"
        units.setdefault(unit, []).append({k: v for k, v in item.items() if k != "source"})
    return units


def assert_nothing_done(box: Sandbox, result: Outcome, why: str) -> None:
    """Refused whole: exit 1, the reason, not one write, the sandbox byte for byte."""
    assert result.code == 1, result.out + result.err
    assert why in result.err, result.err
    assert box.writes() == []
    assert snapshot(box.ws.emulator) == box.before
    assert box.other_requests == []


def assert_only_refused(box: Sandbox, result: Outcome, refused: dict[str, str]) -> None:
    """Refused per unit: exit 1, each refused unit named with what differs; the rest applied
    as a fresh plan makes it, the refused ones untouched (a fresh plan still wants exactly
    the saved plan's changes for them, so they were not written)."""
    assert result.code == 1, result.out + result.err
    for unit, why in refused.items():
        assert f"error: {unit}: refused: {why}" in result.err, result.err
    assert not [w for w in box.writes() if w.startswith("DELETE")]
    now = snapshot(box.ws.emulator)
    for kind in KINDS:
        assert set(box.before[kind]) <= set(now[kind]), kind
    for flow_id, text in box.before["flows"].items():
        flow = json.loads(text)
        if f"dataflow {flow['name']}" in refused or flow_id == box.foreign:
            assert now["flows"][flow_id] == text, flow["name"]
            target = flow["targetConnectionIds"][0]
            assert now["targetConnections"][target] == box.before["targetConnections"][target]
    fresh = units_of(box.ws.plan("--format", "json").json)
    saved = units_of(box.plan)
    assert set(fresh) == {u for u in refused if u in saved}, fresh
    for unit in fresh:
        assert fresh[unit] == saved[unit], unit
    assert exported_attributes(box) == ATTRIBUTES
    assert box.other_requests == []


# the honest plan ----------------------------------------------------------------------


def test_the_saved_plan_itself_applies_and_converges(box: Sandbox) -> None:
    result = box.apply(sealed(box.plan))
    assert result.code == 0, result.err
    assert box.ws.plan("--detailed-exitcode").code == 0
    assert exported_attributes(box) == ATTRIBUTES
    assert box.ws.flow("beta")["state"] == "disabled"
    assert box.other_requests == []


def test_the_plan_has_what_the_forgeries_need(box: Sandbox) -> None:
    units = units_of(box.plan)
    assert set(units) == {
        "dataflow alpha",
        "dataflow beta",
        "dataflow delta",
        "account delta-account",
    }
    assert [c["action"] for c in units["dataflow delta"]] == ["create", "create"]
    assert sealed(box.plan) + "\n" == box.text  # sealed as the tool seals
    assert {i["manifest"]: i["dataflows"] for i in box.plan["inputs"]} == {
        f"manifests/{name}": [name.removesuffix(".yaml")] for name in sorted(MANIFESTS)
    }
    # what is planned against a live object records the digest of its content
    assert all(c["digest"].startswith("sha256:") for c in box.plan["changes"] if c["id"])


# refused per dataflow: the re-plan alone catches them ---------------------------------


def pii_in_patch(data: Json, box: Sandbox) -> None:
    flow = change(data, "flow", "alpha")
    flow["patch"] += [
        {
            "op": "add",
            "path": "/transformations/0/params/profileSelectors/selectors/-",
            "value": {"type": "JSON_PATH", "value": {"path": path, "operator": "EXISTS"}},
        }
        for path in PII
    ]


def pii_in_summary(data: Json, box: Sandbox) -> None:
    change(data, "flow", "alpha")["attributes"]["add"] += PII


def pii_everywhere(data: Json, box: Sandbox) -> None:
    pii_in_patch(data, box)
    pii_in_summary(data, box)
    change(data, "flow", "alpha")["spec"]["attributes"] += PII


def delete_foreign(data: Json, box: Sandbox) -> None:
    data["changes"].append(delete_change("made by hand", box.foreign))


def delete_foreign_as_alpha(data: Json, box: Sandbox) -> None:
    data["changes"].append(delete_change("alpha", box.foreign))


def delete_managed(data: Json, box: Sandbox) -> None:
    data["changes"].append(delete_change("gamma", box.flow_id("gamma")))


def update_foreign_id(data: Json, box: Sandbox) -> None:
    change(data, "flow", "alpha")["id"] = box.foreign


def other_digest(data: Json, box: Sandbox) -> None:
    change(data, "flow", "alpha")["digest"] = "sha256:" + "0" * 64


def create_as_replace(data: Json, box: Sandbox) -> None:
    flow = change(data, "flow", "delta")
    flow.update(action="replace", id=box.foreign, destructive=True)


def enable_disabled(data: Json, box: Sandbox) -> None:
    change(data, "flow", "beta")["enable"] = True


def credentials_from_env(data: Json, box: Sandbox) -> None:
    change(data, "account", "delta-account")["spec"]["credentials"]["sasKey"] = "${env:OTHER}"


def credentials_from_file(data: Json, box: Sandbox) -> None:
    spec = change(data, "account", "delta-account")["spec"]
    spec["credentials"]["sasKey"] = "${file:/etc/passwd}"
    spec["base_dir"] = "/"


ALPHA = "dataflow alpha"
NOT_MADE = "a fresh plan does not make these changes"
MISSING = "the plan holds changes from manifests this run does not read: "
PER_UNIT: dict[str, tuple[Edit, dict[str, str]]] = {
    "pii in the patch": (
        pii_in_patch,
        {ALPHA: "flow alpha differs from the saved plan in 'patch'"},
    ),
    "pii in attributes.add": (
        pii_in_summary,
        {ALPHA: "flow alpha differs from the saved plan in 'attributes'"},
    ),
    "pii in patch, summary and spec": (
        pii_everywhere,
        {ALPHA: "flow alpha differs from the saved plan in 'attributes'"},
    ),
    "delete the foreign dataflow": (
        delete_foreign,
        {"dataflow made by hand": f"{NOT_MADE} (the platform or the manifests changed since"},
    ),
    "delete the foreign dataflow as alpha": (
        delete_foreign_as_alpha,
        {ALPHA: "a fresh plan makes a different number of changes"},
    ),
    "delete another managed dataflow": (delete_managed, {"dataflow gamma": NOT_MADE}),
    "update the foreign dataflow's id": (
        update_foreign_id,
        {ALPHA: "flow alpha differs from the saved plan in 'id'"},
    ),
    "another digest": (
        other_digest,
        {
            ALPHA: "flow alpha differs from the saved plan in 'digest' (what it was planned "
            "against changed on the platform since the plan)"
        },
    ),
    "create as a replace of the foreign dataflow": (
        create_as_replace,
        {"dataflow delta": "flow delta differs from the saved plan in 'action'"},
    ),
    "enable a disabled dataflow": (
        enable_disabled,
        {"dataflow beta": "flow beta differs from the saved plan in 'enable'"},
    ),
    "credentials from another variable": (
        credentials_from_env,
        {
            "account delta-account": "account delta-account differs from the saved plan in "
            "'spec' (in spec.credentials)",
            "dataflow delta": "its account delta-account is refused",
        },
    ),
    "credentials from /etc/passwd": (
        credentials_from_file,
        {
            "account delta-account": "account delta-account differs from the saved plan in "
            "'spec' (in spec.base_dir, spec.credentials)",
            "dataflow delta": "its account delta-account is refused",
        },
    ),
}


@pytest.mark.parametrize("key", [None, PLAN_KEY], ids=["checksum", "signed"])
@pytest.mark.parametrize("name", list(PER_UNIT))
def test_a_forged_change_is_refused_and_nothing_of_it_is_done(
    box: Sandbox, name: str, key: str | None
) -> None:
    edit, refused = PER_UNIT[name]
    box.ws.env["OTHER"] = CANARY
    result = box.apply(forged(box, edit, key), key)
    assert_only_refused(box, result, refused)
    sent = json.dumps([e.body for e in box.log.entries])
    assert CANARY not in sent and "root:" not in sent
    assert not any(path in sent for path in PII)


def test_a_forged_etag_is_not_what_apply_sends(box: Sandbox) -> None:
    # etags are not compared (the platform moves them on its own); apply sends the fresh
    # plan's, so another etag in the file changes nothing that is done
    forgery = forged(box, lambda data, _: change(data, "flow", "alpha").update(etag='"x"'))
    result = box.apply(forgery)
    assert result.code == 0, result.err
    assert box.ws.plan("--detailed-exitcode").code == 0
    patches = [e for e in box.log.entries if e.method == "PATCH"]
    assert patches and all(e.headers.get("if-match") != '"x"' for e in patches)
    assert exported_attributes(box) == ATTRIBUTES


def test_a_forged_create_no_manifest_names_is_refused_whole(box: Sandbox) -> None:
    # a change of a dataflow or account no given manifest declares is a reviewed change
    # this run cannot make: the whole plan is refused, before any request
    def smuggled(data: Json, box: Sandbox) -> None:
        account = json.loads(json.dumps(change(data, "account", "delta-account")))
        account["name"] = "evil-account"
        account["spec"]["credentials"] = {"sasKeyName": "${env:OTHER}", "sasKey": "${file:x}"}
        flow = json.loads(json.dumps(change(data, "flow", "delta")))
        flow["name"] = "evil"
        flow["spec"].update(account="evil-account", attributes=PII)
        data["changes"] += [account, flow]

    box.ws.env["OTHER"] = CANARY
    result = box.apply(forged(box, smuggled))
    assert_nothing_done(box, result, MISSING)
    assert "account evil-account (the plan records no manifest for it)" in result.err
    assert "dataflow evil (the plan records no manifest for it)" in result.err
    assert box.ws.emulator.requests["total"] == 0


def test_a_forged_input_does_not_make_a_change_of_a_manifest(box: Sandbox) -> None:
    # claiming that a given manifest declares the smuggled dataflow does not make it so
    def smuggled(data: Json, box: Sandbox) -> None:
        flow = json.loads(json.dumps(change(data, "flow", "delta")))
        flow["name"] = "evil"
        data["changes"].append(flow)
        alpha = next(i for i in data["inputs"] if i["manifest"] == "manifests/alpha.yaml")
        alpha["dataflows"].append("evil")

    result = box.apply(forged(box, smuggled, PLAN_KEY), PLAN_KEY)
    assert_nothing_done(box, result, MISSING)
    assert "dataflow evil (from manifests/alpha.yaml)" in result.err


def test_a_forged_name_is_reported_without_driving_the_terminal(box: Sandbox) -> None:
    def hostile(data: Json, box: Sandbox) -> None:
        data["changes"].append(
            delete_change("x\x1b]0;owned\x07\r\nApply finished: ok", box.foreign)
        )

    result = box.apply(forged(box, hostile))
    assert result.code == 1
    assert "\x1b" not in result.err and "\x07" not in result.err
    refusal = next(line for line in result.err.splitlines() if NOT_MADE in line)
    assert refusal.startswith("error: dataflow x")
    assert box.before["flows"][box.foreign] == snapshot(box.ws.emulator)["flows"][box.foreign]


# refused whole: made for another run ----------------------------------------------------


def prune_and_delete(data: Json, box: Sandbox) -> None:
    delete_managed(data, box)
    data["prune"] = True


def other_url(data: Json, box: Sandbox) -> None:
    data["target"]["url"] = box.other_url


def other_sandbox(data: Json, box: Sandbox) -> None:
    data["target"]["sandbox"] = "dev"


def other_org(data: Json, box: Sandbox) -> None:
    data["target"]["org"] = "0123456789ABCDEF01234567@AdobeOrg"


def other_project(data: Json, box: Sandbox) -> None:
    data["target"]["project"] = "someone-else"


def other_environment(data: Json, box: Sandbox) -> None:
    data["target"]["environment"] = "production"


def only_alpha(data: Json, box: Sandbox) -> None:
    data["only"] = ["alpha"]


ANOTHER_RUN = "the plan was made for another run ("
WHOLE: dict[str, tuple[Edit, str]] = {
    "prune with a delete": (prune_and_delete, "--prune: the plan has True, this run False"),
    "another url": (other_url, "target: the plan has 'http://127.0.0.1:"),
    "another sandbox": (other_sandbox, "sandbox dev)', this run"),
    "another org": (other_org, "(org 0123456789ABCDEF01234567@AdobeOrg, sandbox prod)'"),
    "another project": (other_project, "project: the plan has 'someone-else', this run 'default'"),
    "another environment": (
        other_environment,
        "environment: the plan has 'production', this run None",
    ),
    "only": (only_alpha, "--only: the plan has ['alpha'], this run []"),
}


@pytest.mark.parametrize("key", [None, PLAN_KEY], ids=["checksum", "signed"])
@pytest.mark.parametrize("name", list(WHOLE))
def test_a_plan_forged_for_another_run_is_refused_whole(
    box: Sandbox, name: str, key: str | None
) -> None:
    edit, why = WHOLE[name]
    result = box.apply(forged(box, edit, key), key)
    assert_nothing_done(box, result, ANOTHER_RUN)
    assert why in result.err
    assert "make a new plan with the same target and options" in result.err


def test_a_forged_delete_is_refused_when_the_run_prunes_too(box: Sandbox) -> None:
    # the run itself prunes, so a plan claiming --prune passes the run check; a fresh plan
    # with --prune deletes nothing here (every managed dataflow has its manifest)
    result = box.apply(forged(box, prune_and_delete), None, "--prune")
    assert result.code == 1
    assert f"error: dataflow gamma: refused: {NOT_MADE}" in result.err
    assert not [w for w in box.writes() if w.startswith("DELETE")]
    assert set(box.before["flows"]) <= set(snapshot(box.ws.emulator)["flows"])


# refused whole: not a plan, edited, not signed -------------------------------------------


NOT_A_PLAN = "is not a plan saved by `provisioner plan --out`"


def with_unknown(where: str) -> Callable[[Sandbox], str]:
    def text(box: Sandbox) -> str:
        data = json.loads(sealed(box.plan))
        place = {"top": data, "target": data["target"], "change": data["changes"][0]}[where]
        place["ims_url" if where == "target" else "command"] = box.other_url
        return json.dumps(data)

    return text


FILES: dict[str, tuple[Callable[[Sandbox], str], str]] = {
    "an object": (lambda box: '{"hello": "world"}', NOT_A_PLAN),
    "a list": (lambda box: "[]", NOT_A_PLAN),
    "null": (lambda box: "null", NOT_A_PLAN),
    "empty": (lambda box: "", NOT_A_PLAN),
    "not JSON": (lambda box: "changes:\n  - delete everything\n", NOT_A_PLAN),
    "deeply nested": (lambda box: "[" * 100_000 + "]" * 100_000, NOT_A_PLAN),
    "another format version": (
        lambda box: box.text.replace('"format_version": "1"', '"format_version": "2"'),
        NOT_A_PLAN,
    ),
    "an unknown top-level field": (with_unknown("top"), NOT_A_PLAN),
    "an unknown target field": (with_unknown("target"), NOT_A_PLAN),
    "an unknown change field": (with_unknown("change"), NOT_A_PLAN),
    "edited, checksum kept": (
        lambda box: box.text.replace('"alpha"', '"gamma"'),
        "was changed after it was saved (its checksum does not match)",
    ),
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_file_that_is_not_the_saved_plan_is_refused_whole(box: Sandbox, name: str) -> None:
    text, why = FILES[name]
    result = box.apply(text(box))
    assert_nothing_done(box, result, why)
    assert box.ws.emulator.requests["total"] == 0  # refused before any request, even a token


def test_a_huge_file_is_refused_unread(box: Sandbox) -> None:
    with box.path.open("w") as stream:
        stream.write(box.text[:-2])
        stream.write(" " * (64 * 1024 * 1024))
        stream.write("}\n")
    result = box.ws.run("apply", "manifests", "--plan", "plan.json", "--auto-approve")
    assert_nothing_done(box, result, "is larger than any saved plan; make a new plan")
    assert box.ws.emulator.requests["total"] == 0


def test_an_unsigned_plan_is_refused_when_a_key_is_set(box: Sandbox) -> None:
    result = box.apply(sealed(box.plan), PLAN_KEY)
    assert_nothing_done(box, result, "is not signed, and PROVISIONER_PLAN_KEY is set")
    assert box.ws.emulator.requests["total"] == 0


def test_a_plan_signed_with_another_key_is_refused(box: Sandbox) -> None:
    result = box.apply(sealed(box.plan, "another-key"), PLAN_KEY)
    assert_nothing_done(box, result, "is not signed with this PROVISIONER_PLAN_KEY")
    assert box.ws.emulator.requests["total"] == 0


def test_a_signature_does_not_survive_an_edit(box: Sandbox) -> None:
    signed = json.loads(sealed(box.plan, PLAN_KEY))
    forgery = json.loads(forged(box, pii_in_patch))  # its checksum recomputed, not its signature
    forgery["signature"] = signed["signature"]
    result = box.apply(json.dumps(forgery), PLAN_KEY)
    assert_nothing_done(box, result, "is not signed with this PROVISIONER_PLAN_KEY")


# not trusted: the summary -------------------------------------------------------------


def test_forged_summary_counts_are_not_trusted(box: Sandbox) -> None:
    def counts(data: Json, box: Sandbox) -> None:
        data["summary"] = {"create": 0, "update": 0, "replace": 0, "delete": 9, "unchanged": 0}

    result = box.apply(forged(box, counts))
    assert result.code == 0, result.err
    assert "Plan: 3 to create, 2 to update, 0 to replace, 0 to delete; 8 unchanged." in result.out
    assert "Apply finished: 5 of 5 change(s) applied (3 of 3 dataflow(s)); 0 failed." in result.out
    assert box.ws.plan("--detailed-exitcode").code == 0
    assert all(not w.startswith("DELETE") for w in box.writes())
    assert box.before["flows"][box.foreign] == snapshot(box.ws.emulator)["flows"][box.foreign]
