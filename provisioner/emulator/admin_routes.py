"""The admin endpoints under `/emulator/`, for tests and benchmarks; not part of the
platform. All but `health` need the emulator's own credentials (`admin.py`). Their routes
are in the emulator's route table (`routes.py`); a body they cannot use is answered 400
`{"error": …}`, an endpoint that does not exist 404.

    GET    health                          {"status": "ok"}, for readiness probes
    GET    faults | PUT faults             request faults (faults.py); PUT changes some
    POST   rules                           a fault for the next matching requests
    GET    stats | POST stats/reset        request counts, in flight, the quota's counts
    GET    quota | PUT quota               {"rps": N|null, "burst": B}: the quota per client
    POST   edit/KIND/ID[?sandbox=S]        a JSON Patch, as if made in the AEP UI
    GET    sandboxes | POST sandboxes      the sandboxes; {"name": N} adds one
    POST   audiences[?replace=true]        body {sandbox: [audience, …], …}
    PUT    audiences/SANDBOX               body [audience, …]: exactly these
    GET    audiences/SANDBOX               what the sandbox holds
    DELETE audiences/SANDBOX               forget them: any audience id exists again
    PUT    audiences/SANDBOX/access        body {"enabled": false}: answer 403
    POST   advance                         body {"hours": N} (default 1): run dataflows
    GET    clock                           {"now": epoch ms, "offsetMs": ms}
    GET    exports?flowId=ID[&run=RUN_ID]  what a run exported (the newest)
    GET    run-faults                      {"faults": {target connection id: fault}}
    POST   run-faults                      body {"targetConnectionId", "fault", "runs"?}
    DELETE run-faults[/TARGET_ID]          forget one fault, or all
"""

from __future__ import annotations

import json
from typing import Any

from provisioner.emulator import admin
from provisioner.emulator.audiences import Audiences, parse_seed
from provisioner.emulator.clock import advanced, clock
from provisioner.emulator.errors import ApiError, admin_error
from provisioner.emulator.faults import FaultRule
from provisioner.emulator.messages import Request, Response, json_response
from provisioner.emulator.parts import Parts
from provisioner.emulator.resources import Caller
from provisioner.emulator.router import Call
from provisioner.emulator.sandboxes import check_name

# What a handler raises for a body or query it cannot use: answered 400.
BAD_INPUT: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, AttributeError)


def admit(parts: Parts, request: Request) -> Caller | None:
    authorization = request.headers.get("authorization", "")
    if not admin.authorized(authorization, parts.config.clients, parts.tokens.claims):
        raise admin_error(401, admin.UNAUTHORIZED, admin.CHALLENGE)
    return None


def no_endpoint(request: Request, _message: str = "") -> ApiError:
    return admin_error(404, f"no admin endpoint {request.method} {request.path}")


def bad_input(error: Exception) -> ApiError:
    return admin_error(400, str(error))


def _body(call: Call) -> Any:
    return json.loads(call.request.body) if call.request.body else {}


def _ok(payload: Any, status: int = 200) -> Response:
    return json_response(status, payload)


def health(_parts: Parts, _call: Call) -> Response:
    return _ok({"status": "ok"})


# faults, statistics, quota ---------------------------------------------------------------


def faults(parts: Parts, _call: Call) -> Response:
    return _ok(parts.faults.as_json())


def change_faults(parts: Parts, call: Call) -> Response:
    parts.faults.update(_body(call))
    return _ok(parts.faults.as_json())


def add_rule(parts: Parts, call: Call) -> Response:
    parts.faults.add_rule(FaultRule(**_body(call)))
    return _ok(parts.faults.as_json(), 201)


def stats(parts: Parts, _call: Call) -> Response:
    quota = parts.quota.snapshot() if parts.quota is not None else None
    return _ok({**parts.stats.snapshot(), "quota": quota})


def reset_stats(parts: Parts, _call: Call) -> Response:
    parts.stats.reset()
    if parts.quota is not None:
        parts.quota.reset_counts()
    return _ok({"requests": {}})


def quota(parts: Parts, _call: Call) -> Response:
    return _ok(parts.quota.snapshot() if parts.quota is not None else {"rps": None})


def change_quota(parts: Parts, call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, dict) or "rps" not in body:
        raise ValueError('the body is {"rps": N, "burst": B} (burst optional), or {"rps": null}')
    parts.set_quota(body["rps"], body.get("burst"))
    return quota(parts, call)


# data ------------------------------------------------------------------------------------


def edit(parts: Parts, call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, list):
        raise ValueError("an edit is a JSON Patch array")
    sandbox = call.request.param("sandbox") or "prod"
    kind, resource_id = call.params["kind"], call.params["id"]
    edited = parts.resources.outside_edit(kind, sandbox, resource_id, body)
    return _ok({"id": edited["id"], "etag": edited["etag"]})


def sandboxes(parts: Parts, _call: Call) -> Response:
    return _ok({"sandboxes": parts.sandbox_names()})


def add_sandbox(parts: Parts, call: Call) -> Response:
    body = _body(call)
    name = body.get("name") if isinstance(body, dict) else None
    parts.sandboxes.add(check_name(name))
    return _ok({"sandboxes": parts.sandbox_names()}, 201)


# audiences -------------------------------------------------------------------------------


def seed_audiences(parts: Parts, call: Call) -> Response:
    replace = (call.request.param("replace") or "false").lower() == "true"
    return _ok({"seeded": parts.audiences.seed_all(parse_seed(_body(call)), replace)})


def replace_audiences(parts: Parts, call: Call) -> Response:
    sandbox = call.params["sandbox"]
    seeded = parts.audiences.seed_all(parse_seed(_body(call), sandbox), replace=True)
    return _ok({"seeded": seeded})


def sandbox_audiences(parts: Parts, call: Call) -> Response:
    return _ok(describe(parts.audiences, call.params["sandbox"]))


def forget_audiences(parts: Parts, call: Call) -> Response:
    parts.audiences.forget(call.params["sandbox"])
    return sandbox_audiences(parts, call)


def audiences_access(parts: Parts, call: Call) -> Response:
    body = _body(call)
    enabled = body.get("enabled") if isinstance(body, dict) else None
    if not isinstance(enabled, bool):
        raise ValueError('the body is {"enabled": true} or {"enabled": false}')
    parts.audiences.set_enabled(call.params["sandbox"], enabled)
    return sandbox_audiences(parts, call)


def describe(audiences: Audiences, sandbox: str) -> dict[str, Any]:
    return {
        "sandbox": sandbox,
        "seeded": audiences.seeded(sandbox),
        "enabled": audiences.enabled(sandbox),
        "audiences": audiences.stored(sandbox),
    }


# the clock and runs ----------------------------------------------------------------------


def advance(parts: Parts, call: Call) -> Response:
    body = _body(call)
    hours = body.get("hours", 1) if isinstance(body, dict) else body
    return _ok(advanced(parts.runs, hours))


def read_clock(parts: Parts, _call: Call) -> Response:
    return _ok(clock(parts.runs))


def exports(parts: Parts, call: Call) -> Response:
    flow_id = call.request.param("flowId") or ""
    if not flow_id:
        raise ValueError("name the dataflow: /emulator/exports?flowId=ID[&run=RUN_ID]")
    run_id = call.request.param("run")
    exported = parts.runs.exported(flow_id, run_id)
    if exported is None or exported["records"] is None:
        kept = "no run" if exported is None else "its records are no longer kept"
        raise admin_error(404, f"dataflow {flow_id}, run {run_id or '(newest)'}: {kept}")
    return _ok(exported)


def run_faults(parts: Parts, _call: Call) -> Response:
    return _ok({"faults": parts.runs.faults.listed()})


def add_run_fault(parts: Parts, call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, dict):
        raise ValueError('the body is {"targetConnectionId": ID, "fault": NAME, "runs": N}')
    parts.runs.faults.set(body.get("targetConnectionId"), body.get("fault"), body.get("runs"))
    return _ok({"faults": parts.runs.faults.listed()}, 201)


def clear_run_faults(parts: Parts, call: Call) -> Response:
    parts.runs.faults.clear(call.params.get("target"))
    return run_faults(parts, call)
