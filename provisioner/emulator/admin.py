"""Who may use the admin endpoints under `/emulator/`, and the audience seeding ones.

Those endpoints inject faults, edit resources and seed data, so a served emulator reachable
by others must not hand them to anyone: they need the emulator's own client, as a bearer
token its IMS issued (`Authorization: Bearer …`) or as the client id and secret themselves
(`Authorization: Basic base64(id:secret)`). Only `/emulator/health` is open, for readiness
probes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from provisioner.emulator.audiences import Audiences, parse_seed
from provisioner.emulator.runs import Runs

UNAUTHORIZED = (
    "the /emulator/ endpoints need the emulator's credentials: Authorization: Bearer TOKEN "
    "(from its IMS) or Basic CLIENT_ID:CLIENT_SECRET"
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="emulator", Basic realm="emulator"'}

Clients = Mapping[str, tuple[str, str]]  # client id -> (client secret, IMS org)
ClaimsReader = Callable[[str], "dict[str, Any] | None"]


def authorized(authorization: str, clients: Clients, read_claims: ClaimsReader) -> bool:
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        claims = read_claims(credentials.strip())
        return claims is not None and claims.get("c") in clients
    if scheme == "basic":
        return _basic_matches(credentials.strip(), clients)
    return False


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The `Authorization` header value for the admin endpoints, from the client's secret."""
    token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return f"Basic {token}"


def _basic_matches(encoded: str, clients: Clients) -> bool:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    client_id, separator, secret = decoded.partition(":")
    client = clients.get(client_id)
    return bool(separator) and client is not None and hmac.compare_digest(secret, client[0])


def audiences_route(
    audiences: Audiences,
    method: str,
    parts: list[str],
    body: Any,
    query: Mapping[str, list[str]],
) -> tuple[int, Any] | None:
    """The audience seeding endpoints; None when no endpoint matches.

    POST   /emulator/audiences[?replace=true]   body {sandbox: [audience, …], …}
    PUT    /emulator/audiences/SANDBOX          body [audience, …]: exactly these
    GET    /emulator/audiences/SANDBOX          what the sandbox holds
    DELETE /emulator/audiences/SANDBOX          forget them: any audience id exists again
    PUT    /emulator/audiences/SANDBOX/access   body {"enabled": false}: answer 403
    """
    if method == "POST" and not parts:
        replace = (query.get("replace") or ["false"])[-1].lower() == "true"
        return 200, {"seeded": audiences.seed_all(parse_seed(body), replace)}
    if len(parts) == 1 and parts[0]:
        sandbox = parts[0]
        if method == "PUT":
            seeded = audiences.seed_all(parse_seed(body, sandbox), replace=True)
            return 200, {"seeded": seeded}
        if method == "GET":
            return 200, describe(audiences, sandbox)
        if method == "DELETE":
            audiences.forget(sandbox)
            return 200, describe(audiences, sandbox)
    if method == "PUT" and len(parts) == 2 and parts[1] == "access":
        enabled = body.get("enabled") if isinstance(body, dict) else None
        if not isinstance(enabled, bool):
            raise ValueError('the body is {"enabled": true} or {"enabled": false}')
        audiences.set_enabled(parts[0], enabled)
        return 200, describe(audiences, parts[0])
    return None


def describe(audiences: Audiences, sandbox: str) -> dict[str, Any]:
    return {
        "sandbox": sandbox,
        "seeded": audiences.seeded(sandbox),
        "enabled": audiences.enabled(sandbox),
        "audiences": audiences.stored(sandbox),
    }


def runs_route(
    runs: Runs, method: str, parts: list[str], body: Any, query: Mapping[str, list[str]]
) -> tuple[int, Any] | None:
    """The clock, exported records and run faults; None when no endpoint matches.

    POST   /emulator/advance                  body {"hours": N} (default 1): run dataflows
    GET    /emulator/clock                    {"now": epoch ms, "offsetMs": ms}
    GET    /emulator/exports?flowId=ID[&run=RUN_ID]   what a run exported (the newest)
    GET    /emulator/run-faults               {"faults": {target connection id: fault}}
    POST   /emulator/run-faults               body {"targetConnectionId", "fault", "runs"?}
    DELETE /emulator/run-faults[/TARGET_ID]   forget one fault, or all
    """
    route = (method, *parts)
    if route == ("POST", "advance"):
        hours = body.get("hours", 1) if isinstance(body, dict) else body
        made = runs.advance(hours)
        return 200, {**clock(runs), "runs": [run_brief(runs, run) for run in made]}
    if route == ("GET", "clock"):
        return 200, clock(runs)
    if route == ("GET", "exports"):
        flow_id = (query.get("flowId") or [""])[-1]
        if not flow_id:
            raise ValueError("name the dataflow: /emulator/exports?flowId=ID[&run=RUN_ID]")
        run_ids = query.get("run")
        run_id = run_ids[-1] if run_ids else None
        exported = runs.exported(flow_id, run_id)
        if exported is None or exported["records"] is None:
            kept = "no run" if exported is None else "its records are no longer kept"
            return 404, {"error": f"dataflow {flow_id}, run {run_id or '(newest)'}: {kept}"}
        return 200, exported
    if parts[:1] == ["run-faults"]:
        return _run_faults(runs, method, parts[1:], body)
    return None


def _run_faults(runs: Runs, method: str, rest: list[str], body: Any) -> tuple[int, Any] | None:
    if method == "GET" and not rest:
        return 200, {"faults": runs.faults.listed()}
    if method == "POST" and not rest:
        if not isinstance(body, dict):
            raise ValueError('the body is {"targetConnectionId": ID, "fault": NAME, "runs": N}')
        runs.faults.set(body.get("targetConnectionId"), body.get("fault"), body.get("runs"))
        return 201, {"faults": runs.faults.listed()}
    if method == "DELETE" and len(rest) <= 1:
        runs.faults.clear(rest[0] if rest else None)
        return 200, {"faults": runs.faults.listed()}
    return None


def clock(runs: Runs) -> dict[str, int]:
    return {"now": runs.store.now_ms(), "offsetMs": runs.store.clock_offset_ms()}


def run_brief(runs: Runs, run: Mapping[str, Any]) -> dict[str, Any]:
    """One line's worth of a run: what `emulator advance` prints."""
    summary = run["metrics"]["recordSummary"]
    flow = runs.store.get("flows", run["sandboxName"], run["flowId"]) or {}
    return {
        "id": run["id"],
        "flowId": run["flowId"],
        "flowName": flow.get("name", ""),
        "sandboxName": run["sandboxName"],
        "status": run["metrics"]["statusSummary"]["status"],
        "startedAtUTC": run["metrics"]["durationSummary"]["startedAtUTC"],
        "activated": summary["outputRecordCount"],
        "excluded": summary["skippedRecordCount"],
        "failed": summary["failedRecordCount"],
    }
