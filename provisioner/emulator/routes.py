"""The emulator's route table: every path it answers, in one place.

Areas are tried in order: the admin endpoints, IMS, the Flow Service, the Audiences API,
and last everything else (404). Within an area, the first route whose pattern matches
answers, so a fixed segment (`/runs`, `/bulk-get`) is listed before a captured one.
"""

from __future__ import annotations

from provisioner.emulator import admin_routes as admin
from provisioner.emulator import audiences_api as audiences
from provisioner.emulator import flowservice as flows
from provisioner.emulator.audiences import AUDIENCES_PATH
from provisioner.emulator.catalog import FLOW_SERVICE_PATH, IMS_TOKEN_PATH
from provisioner.emulator.errors import ApiError
from provisioner.emulator.messages import Request, Response, json_response
from provisioner.emulator.parts import Parts
from provisioner.emulator.resources import KINDS
from provisioner.emulator.router import Area, Call, Route, RouteTable

ADMIN_PATH = "/emulator"
OBJECTS = {"kind": frozenset(KINDS)}
SPECS = {"specs": frozenset(flows.SPEC_KINDS)}
ON_RUNS = "{method} is not allowed on runs"


def _token(parts: Parts, call: Call) -> Response:
    return json_response(200, parts.tokens.issue(call.request.body))


def _no_resource(request: Request) -> ApiError:
    return ApiError(404, "1101", f"No resource at {request.path}")


def _use_post(_request: Request, _message: str) -> ApiError:
    return ApiError(405, "0", "Use POST")


ADMIN = Area(
    ADMIN_PATH,
    [
        Route("/health", {"GET": admin.health}, open=True),
        Route("/faults", {"GET": admin.faults, "PUT": admin.change_faults}),
        Route("/rules", {"POST": admin.add_rule}),
        Route("/stats", {"GET": admin.stats}),
        Route("/stats/reset", {"POST": admin.reset_stats}),
        Route("/quota", {"GET": admin.quota, "PUT": admin.change_quota}),
        Route("/edit/{kind}/{id}", {"POST": admin.edit}),
        Route("/sandboxes", {"GET": admin.sandboxes, "POST": admin.add_sandbox}),
        Route("/audiences", {"POST": admin.seed_audiences}),
        Route(
            "/audiences/{sandbox}",
            {
                "GET": admin.sandbox_audiences,
                "PUT": admin.replace_audiences,
                "DELETE": admin.forget_audiences,
            },
        ),
        Route("/audiences/{sandbox}/access", {"PUT": admin.audiences_access}),
        Route("/advance", {"POST": admin.advance}),
        Route("/clock", {"GET": admin.read_clock}),
        Route("/exports", {"GET": admin.exports}),
        Route(
            "/run-faults",
            {
                "GET": admin.run_faults,
                "POST": admin.add_run_fault,
                "DELETE": admin.clear_run_faults,
            },
        ),
        Route("/run-faults/{target}", {"DELETE": admin.clear_run_faults}),
    ],
    admit=admin.admit,
    not_found=admin.no_endpoint,
    not_allowed=admin.no_endpoint,
    platform=False,
    translated=admin.BAD_INPUT,
    translate=admin.bad_input,
)

IMS = Area(
    IMS_TOKEN_PATH,
    [Route("", {"POST": _token})],
    not_found=_no_resource,
    not_allowed=_use_post,
)

FLOW_SERVICE = Area(
    FLOW_SERVICE_PATH,
    [
        Route("/{specs}", {"GET": flows.list_specs}, where=SPECS),
        Route("/{specs}/{id}", {"GET": flows.read_spec}, where=SPECS),
        Route("/runs", {"GET": flows.list_runs, "POST": flows.refuse_run}, refusal=ON_RUNS),
        Route("/runs/{id}", {"GET": flows.read_run}, refusal=ON_RUNS),
        Route("/{kind}", {"GET": flows.list_objects, "POST": flows.create}, where=OBJECTS),
        Route(
            "/{kind}/{id}",
            {"GET": flows.read, "PATCH": flows.patch, "DELETE": flows.delete},
            where=OBJECTS,
            refusal="{method} is not allowed on {kind}/{{id}}",
        ),
        Route("/{kind}/{id}/action", {"POST": flows.action}, where=OBJECTS),
    ],
    admit=flows.admit,
    not_found=flows.not_found,
    not_allowed=flows.not_allowed,
    metered=True,
)

AUDIENCES = Area(
    AUDIENCES_PATH,
    [
        Route("", {"GET": audiences.list_audiences}),
        Route("/bulk-get", {"POST": audiences.bulk_get}),
        Route("/{id}", {"GET": audiences.read_audience}),
    ],
    admit=audiences.admit,
    not_found=audiences.not_found,
    not_allowed=audiences.not_allowed,
    metered=True,
)

ELSEWHERE = Area("", [], not_found=_no_resource, not_allowed=_use_post)

TABLE = RouteTable([ADMIN, IMS, FLOW_SERVICE, AUDIENCES, ELSEWHERE])
