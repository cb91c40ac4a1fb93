"""The emulator as a WSGI application: IMS, the API gateway's checks, the Flow Service and
the Segmentation Service's Audiences API.

Served over HTTP by `server.py`, or used in-process through `httpx.WSGITransport`. Admin
endpoints under `/emulator/` (faults, outside edits, request counts, sandboxes, audience
seeding, the clock, exported records, run faults) are for tests and benchmarks; they are not
part of the platform, and all but `health` need the emulator's own credentials (see
`admin.py`).

Every Flow Service and Audiences request names a sandbox that must exist (`sandboxes.py`);
in any other, it is answered 500 in the Flow Service's error shape, as the platform does.

The emulator keeps a clock of its own (real time plus what `advance` added, `runs.py`): its
timestamps and every answer's `Date` header follow it; IMS tokens keep real time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs

from provisioner.emulator import admin
from provisioner.emulator.audiences import AUDIENCES_PATH, Audiences, AudienceSeed
from provisioner.emulator.catalog import FLOW_SERVICE_PATH, IMS_TOKEN_PATH
from provisioner.emulator.errors import ApiError, GatewayError, bad_request
from provisioner.emulator.faults import FaultRule, Faults, LostResponse
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from provisioner.emulator.inflight import InFlight
from provisioner.emulator.query import (
    DEFAULT_LIMIT,
    Query,
    count_matches,
    decode_token,
    parse_limit,
    run_query,
)
from provisioner.emulator.resources import KINDS, Caller, Resources, masked
from provisioner.emulator.runs import LIST_LIMIT, Runs
from provisioner.emulator.sandboxes import Sandboxes, check_name, unknown
from provisioner.emulator.specs import CONNECTION_SPECS, FLOW_SPECS
from provisioner.emulator.store import Store
from provisioner.emulator.strict import (
    WRITE_METHODS,
    ActionForm,
    Write,
    check_action,
    check_write,
)

ADMIN_PATH = "/emulator"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Response = tuple[int, dict[str, str], bytes]


@dataclass
class EmulatorConfig:
    """How this emulator behaves where the platform's documentation disagrees, and more."""

    clients: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {DEFAULT_CLIENT_ID: (DEFAULT_CLIENT_SECRET, DEFAULT_ORG)}
    )  # client id -> (client secret, IMS org)
    # Sandboxes that exist besides prod and those of the store (see sandboxes.py).
    sandboxes: frozenset[str] = frozenset()
    # The status of the answer in a sandbox that does not exist: a live platform's 500, or
    # the 404 of Adobe's error table.
    unknown_sandbox_status: Literal[500, 404] = 500
    token_ttl: int = 86399  # seconds, as IMS answers
    patch_status: Literal[200, 202] = 200  # 200 with {id, etag}, or 202 with no body
    delete_status: Literal[202, 204] = 202
    missing_sandbox: Literal["prod", "error"] = "prod"  # default to prod, or 400 (2105)
    # Refuse every write no document shows (strict.DOCUMENTED_WRITES), and require what the
    # documents require, instead of accepting whatever the emulator can carry out.
    strict: bool = False
    # Which documented form(s) of POST /flows/{id}/action are accepted.
    action_form: ActionForm = "both"
    # Writes accepted in strict mode beyond the documented ones: to try a client against a
    # platform that turns out to accept one of them.
    also_accept: tuple[Write, ...] = ()
    # Objects carry createdClient and updatedClient, as the OpenAPI documents say (False: a
    # platform that leaves them out, for clients that must not depend on them).
    record_clients: bool = True
    # The name a client's writes are recorded under, where it is not the client id itself.
    recorded_as: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return cls(
            environ["REQUEST_METHOD"].upper(), environ.get("PATH_INFO", ""), query, headers, body
        )

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        if not self.body:
            return None
        if "json" not in self.headers.get("content-type", ""):
            raise _ContentTypeError()
        try:
            return json.loads(self.body)
        except ValueError:
            raise bad_request("1405", "The request body is not valid JSON") from None


class _ContentTypeError(ApiError):
    def __init__(self) -> None:
        super().__init__(400, "0", "A valid content-type must be specified")

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "type": "/placeholder/type/uri",
            "status": 400,
            "title": "BadRequestError",
            "detail": self.message,
        }


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    if payload is None:
        return status, dict(headers or {}), b""
    return _encoded_response(status, json.dumps(payload), headers)


def _encoded_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An answer whose JSON is encoded already."""
    return status, {"Content-Type": "application/json", **(headers or {})}, text.encode()


class EmulatorApp:
    def __init__(
        self,
        store: Store | None = None,
        config: EmulatorConfig | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.store = store or Store()
        self.config = config or EmulatorConfig()
        self.faults = faults or Faults()
        self.resources = Resources(self.store, self.config.record_clients, self.config.recorded_as)
        self.audiences = Audiences(self.store)
        self.sandboxes = Sandboxes(self.store)
        self.runs = Runs(self.store, self.audiences, self.config.record_clients)
        self.requests: Counter[str] = Counter()
        self.in_flight = InFlight()
        self._count_lock = threading.Lock()
        # Called with (number, method, path) for every platform request, before it is
        # carried out: tests use it to stop a client at an exact point.
        self.observers: list[Callable[[int, str, str], None]] = []

    def seed_audiences(
        self,
        sandbox: str,
        audiences: Iterable[AudienceSeed | Mapping[str, Any]],
        replace: bool = False,
    ) -> int:
        """Seed audiences `{id, name, description?, lifecycleState?}` into a sandbox, which
        then knows only its seeded audiences; see `Audiences.seed`."""
        return self.audiences.seed(sandbox, audiences, replace)

    def advance(self, hours: int = 1) -> list[dict[str, Any]]:
        """Move the emulator's clock `hours` hours on, running every enabled dataflow with
        an audience once an hour; returns the runs made, oldest first (see `runs.py`)."""
        return self.runs.advance(hours)

    # WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        status, headers, body = self.respond(request)
        headers.setdefault("x-request-id", str(uuid.uuid4()))
        headers.setdefault("Date", formatdate(self.store.now_ms() / 1000, usegmt=True))
        headers["Content-Length"] = str(len(body))
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]

    def respond(self, request: Request) -> Response:
        if request.path.startswith(ADMIN_PATH + "/"):
            return self._admin(request)
        with self.in_flight.tracking():
            return self._respond_platform(request)

    def _respond_platform(self, request: Request) -> Response:
        with self._count_lock:
            self.requests[request.method] += 1
            self.requests["total"] += 1
            if _names_one_object(request.path):
                self.requests["one object"] += 1  # what a run spends per dataflow, not lists
            number = self.requests["total"]
        for observe in self.observers:
            observe(number, request.method, request.path)
        fault = self.faults.choose(request.method, request.path)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if fault == "drop":
            raise LostResponse(request.path)
        if fault is not None and fault.isdigit():
            return self._fault_status(int(fault))
        response = self._route(request)
        if fault == "lose":
            raise LostResponse(request.path)
        return response

    def _fault_status(self, status: int) -> Response:
        if status == 429:
            throttled = GatewayError(429, "429050", "Too many requests")
            headers = {"Retry-After": str(self.faults.retry_after)}
            return _json_response(429, throttled.body(""), headers)
        unavailable = ApiError(status, "1500", "The service is temporarily unavailable")
        return _json_response(status, unavailable.body(str(uuid.uuid4())))

    def _route(self, request: Request) -> Response:
        try:
            if request.path == IMS_TOKEN_PATH:
                return self._token(request)
            if request.path.startswith(FLOW_SERVICE_PATH + "/"):
                caller = self._gateway(request)
                return self._flow_service(request, caller)
            if request.path == AUDIENCES_PATH or request.path.startswith(AUDIENCES_PATH + "/"):
                caller = self._gateway(request)
                status, payload = self.audiences.respond(
                    request.method,
                    request.path[len(AUDIENCES_PATH) :],
                    request.query,
                    request.body,
                    caller,
                )
                return _json_response(status, payload)
            raise ApiError(404, "1101", f"No resource at {request.path}")
        except ApiError as error:
            return _json_response(error.status, error.body(str(uuid.uuid4())), error.headers)

    # IMS -----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            raise ApiError(405, "0", "Use POST")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _json_response(400, {"error": "unsupported_grant_type"})
        client = self.config.clients.get(form.get("client_id", ""))
        if client is None:
            return _json_response(
                400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}
            )
        secret, org = client
        if not hmac.compare_digest(form.get("client_secret", ""), secret):
            return _json_response(
                401,
                {"error": "invalid_client", "error_description": "invalid client_secret parameter"},
            )
        token = self._sign(
            {"c": form["client_id"], "o": org, "e": int(time.time()) + self.config.token_ttl}
        )
        return _json_response(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.config.token_ttl},
        )

    def _sign(self, claims: dict[str, Any]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        mac = hmac.new(self.store.signing_key, payload.encode(), hashlib.sha256).hexdigest()
        return f"emu.{payload}.{mac[:40]}"

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "emu":
            return None
        mac = hmac.new(self.store.signing_key, parts[1].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac[:40], parts[2]):
            return None
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        return claims if claims["e"] > time.time() else None

    # gateway -------------------------------------------------------------------------

    def _gateway(self, request: Request) -> Caller:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            raise GatewayError(403, "403010", "Oauth token is missing.")
        scheme, _, token = authorization.partition(" ")
        claims = self._claims(token) if scheme.lower() == "bearer" else None
        if claims is None:
            raise GatewayError(401, "401013", "Oauth token is not valid")
        api_key = request.headers.get("x-api-key")
        if not api_key:
            raise GatewayError(403, "403000", "Api Key is required")
        if api_key != claims["c"]:
            raise GatewayError(403, "403003", "Api Key is invalid")
        org = request.headers.get("x-gw-ims-org-id")
        if not org:
            raise GatewayError(400, "400003", "Missing header")
        if org != claims["o"]:
            raise GatewayError(403, "403025", "Profile is not valid")
        return Caller(claims["c"], org, self._sandbox(request))

    def _sandbox(self, request: Request) -> str:
        sandbox = request.headers.get("x-sandbox-name")
        if not sandbox:
            if self.config.missing_sandbox == "error":
                raise bad_request("2105", "The header x-sandbox-name is missing in the request")
            sandbox = "prod"
        if sandbox not in self.config.sandboxes and not self.sandboxes.exists(sandbox):
            raise unknown(sandbox, self.config.unknown_sandbox_status)
        return sandbox

    def sandbox_names(self) -> list[str]:
        """Every sandbox that exists, sorted."""
        return sorted(self.config.sandboxes | self.sandboxes.names())

    # Flow Service --------------------------------------------------------------------

    def _flow_service(self, request: Request, caller: Caller) -> Response:
        parts = request.path[len(FLOW_SERVICE_PATH) + 1 :].strip("/").split("/")
        kind, rest = parts[0], parts[1:]
        if self.config.strict and request.method in WRITE_METHODS:
            check_write(
                request.method,
                "/" + "/".join(parts),
                request.query,
                request.json(),
                self.config.also_accept,
            )
        if kind in ("connectionSpecs", "flowSpecs"):
            return self._specs(request, kind, rest)
        if kind == "runs" and len(rest) <= 1:
            return self._runs(request, caller, rest)
        if kind not in KINDS or len(rest) > 2 or (len(rest) == 2 and rest[1] != "action"):
            raise ApiError(404, "1101", f"No resource at {request.path}")
        if len(rest) == 2:
            return self._action(request, caller, rest[0])
        if not rest:
            return self._collection(request, caller, kind)
        return self._item(request, caller, kind, rest[0])

    def _specs(self, request: Request, kind: str, rest: list[str]) -> Response:
        _only(request, "GET")
        specs = CONNECTION_SPECS if kind == "connectionSpecs" else FLOW_SPECS
        if rest:
            if rest[0] not in specs:
                raise ApiError(404, "1101", f"The requested {kind} resource {rest[0]} is not found")
            return _json_response(200, {"items": [specs[rest[0]]]})
        entries = [(0, spec) for spec in specs.values()]
        return self._list(request, kind, entries)

    def _collection(self, request: Request, caller: Caller, kind: str) -> Response:
        if request.method == "POST":
            created = self.resources.create(kind, caller, request.json())
            return _json_response(201, {"id": created["id"], "etag": created["etag"]})
        _only(request, "GET")
        entries, texts = self.store.listing(kind, caller.sandbox)
        return self._list(request, kind, entries, texts if kind != "connections" else None)

    def _list(
        self,
        request: Request,
        kind: str,
        entries: list[tuple[int, Any]],
        texts: Mapping[str, str] | None = None,
        default_limit: int = DEFAULT_LIMIT,
    ) -> Response:
        """A page of `entries`; with `texts` (each item's JSON as stored, where a read shows
        it as stored), the page is put together from them instead of encoded anew."""
        filters = tuple(request.query.get("property", []))
        if (request.param("count") or "").lower() == "true":
            if request.param("limit") is not None:
                raise bad_request("1401", "limit and count parameters cannot be given together")
            return _json_response(200, {"count": count_matches(entries, filters)})
        token = request.param("continuationToken")
        if token:
            query, after = decode_token(token)
        else:
            query = Query(
                filters,
                request.param("orderby") or "",
                parse_limit(request.param("limit"), default_limit),
            )
            after = None
        page = run_query(entries, query, after)
        links = (
            {"next": {"href": f"/{kind}?continuationToken={page.next_token}"}}
            if page.next_token
            else {}
        )
        if texts is not None:
            items = ",".join(texts[r["id"]] for r in page.items)
            return _encoded_response(200, f'{{"items":[{items}],"_links":{json.dumps(links)}}}')
        return _json_response(
            200, {"items": [masked(kind, r) for r in page.items], "_links": links}
        )

    def _item(self, request: Request, caller: Caller, kind: str, resource_id: str) -> Response:
        if request.method == "GET":
            return _json_response(200, {"items": [self.resources.read(kind, caller, resource_id)]})
        if request.method == "PATCH":
            updated = self.resources.patch(
                kind, caller, resource_id, request.json(), request.headers.get("if-match")
            )
            if self.config.patch_status == 202:
                return _json_response(202, None)
            return _json_response(200, {"id": updated["id"], "etag": updated["etag"]})
        if request.method == "DELETE":
            self.resources.delete(kind, caller, resource_id)
            return _json_response(self.config.delete_status, None)
        raise ApiError(405, "0", f"{request.method} is not allowed on {kind}/{{id}}")

    def _runs(self, request: Request, caller: Caller, rest: list[str]) -> Response:
        """Runs are the platform's records: listed and read, never written by a client."""
        if request.method == "POST" and not rest:
            raise bad_request("1400", "The runs of a destination dataflow are made by the platform")
        if request.method != "GET":
            raise ApiError(405, "0", f"{request.method} is not allowed on runs")
        if rest:
            return _json_response(200, {"items": [self.runs.read(caller.sandbox, rest[0])]})
        entries = self.runs.entries(caller.sandbox, request.query.get("property", []))
        return self._list(request, "runs", entries, default_limit=LIST_LIMIT)

    def _action(self, request: Request, caller: Caller, flow_id: str) -> Response:
        _only(request, "POST")
        check_action(request.query, self.config.action_form, self.config.strict)
        flow = self.resources.flow_action(
            caller, flow_id, request.param("op") or "", request.headers.get("if-match")
        )
        return _json_response(200, {"id": flow["id"], "etag": flow["etag"]})

    # admin ---------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        parts = request.path[len(ADMIN_PATH) + 1 :].split("/")
        if parts != ["health"] and not admin.authorized(
            request.headers.get("authorization", ""), self.config.clients, self._claims
        ):
            return _json_response(401, {"error": admin.UNAUTHORIZED}, admin.CHALLENGE)
        try:
            return self._admin_route(request, parts)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return _json_response(400, {"error": str(error)})
        except ApiError as error:
            return _json_response(error.status, error.body(""))

    def _admin_route(self, request: Request, parts: list[str]) -> Response:
        body = json.loads(request.body) if request.body else {}
        route = (request.method, parts[0])
        if route == ("GET", "health"):
            return _json_response(200, {"status": "ok"})
        if route == ("GET", "faults"):
            return _json_response(200, self.faults.as_json())
        if route == ("PUT", "faults"):
            self.faults.update(body)
            return _json_response(200, self.faults.as_json())
        if route == ("POST", "rules"):
            self.faults.add_rule(FaultRule(**body))
            return _json_response(201, self.faults.as_json())
        if route == ("GET", "stats"):
            stats = {"requests": dict(self.requests), "in_flight": self.in_flight.snapshot()}
            return _json_response(200, stats)
        if route == ("POST", "stats") and parts[1:] == ["reset"]:
            with self._count_lock:
                self.requests.clear()
            self.in_flight.reset()
            return _json_response(200, {"requests": {}})
        if route == ("POST", "edit") and len(parts) == 3:
            sandbox = request.param("sandbox") or "prod"
            if not isinstance(body, list):
                raise ValueError("an edit is a JSON Patch array")
            edited = self.resources.outside_edit(parts[1], sandbox, parts[2], body)
            return _json_response(200, {"id": edited["id"], "etag": edited["etag"]})
        if route == ("GET", "sandboxes") and len(parts) == 1:
            return _json_response(200, {"sandboxes": self.sandbox_names()})
        if route == ("POST", "sandboxes") and len(parts) == 1:
            name = body.get("name") if isinstance(body, dict) else None
            self.sandboxes.add(check_name(name))
            return _json_response(201, {"sandboxes": self.sandbox_names()})
        if parts[0] == "audiences":
            answer = admin.audiences_route(
                self.audiences, request.method, parts[1:], body, request.query
            )
            if answer is not None:
                return _json_response(*answer)
        answer = admin.runs_route(self.runs, request.method, parts, body, request.query)
        if answer is not None:
            return _json_response(*answer)
        return _json_response(404, {"error": f"no admin endpoint {request.method} {request.path}"})


def _only(request: Request, method: str) -> None:
    if request.method != method:
        raise ApiError(405, "0", f"{request.method} is not allowed here")


def _names_one_object(path: str) -> bool:
    """`/flows/ID`, `/flows/ID/action`: a request about one Flow Service object."""
    if not path.startswith(FLOW_SERVICE_PATH + "/"):
        return False
    return len(path.removeprefix(FLOW_SERVICE_PATH).strip("/").split("/")) >= 2
