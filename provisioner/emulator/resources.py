"""What the Flow Service does with connections, source and target connections and flows."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.emulator.catalog import PROFILE_SPEC_ID
from provisioner.emulator.errors import ApiError, bad_request, not_found
from provisioner.emulator.patch import PatchError, apply_patch, validate_operations
from provisioner.emulator.specs import CONNECTION_SPECS, FLOW_SPECS, secret_params
from provisioner.emulator.store import Resource, Store

KINDS = ("connections", "sourceConnections", "targetConnections", "flows")
MASK = "xxxx"
SERVER_OWNED = frozenset(
    {
        "id",
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
        "createdClient",
        "updatedClient",
        "sandboxId",
        "sandboxName",
        "imsOrgId",
        "etag",
        "version",
        "inheritedAttributes",
        "lastOperation",
        "lastRunDetails",
        "runs",
        "_links",
        "state",
        "typeInfo",
    }
)
IMMUTABLE = {"connectionSpec": "1414", "flowSpec": "1414", "baseConnectionId": "1455"}
UI_CLIENT = "exc_app"


@dataclass(frozen=True)
class Caller:
    """Who is asking, as the gateway established it."""

    client_id: str
    org: str
    sandbox: str


def sandbox_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aep-sandbox:{name}"))


class Resources:
    def __init__(
        self,
        store: Store,
        record_clients: bool = True,
        recorded_as: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.record_clients = record_clients
        self.recorded_as = recorded_as if recorded_as is not None else {}

    # reads ---------------------------------------------------------------------------

    def read(self, kind: str, caller: Caller, resource_id: str) -> Resource:
        resource = self.store.get(kind, caller.sandbox, resource_id)
        if resource is None:
            raise not_found(kind, resource_id)
        return masked(kind, resource)

    # writes --------------------------------------------------------------------------

    def create(self, kind: str, caller: Caller, body: Any) -> Resource:
        if not isinstance(body, dict) or not body:
            raise bad_request("1405", "The request body is empty or not a JSON object")
        if "state" in body:
            raise bad_request("1410", "The state of a resource cannot be set when creating it")
        with self.store.transaction():
            resource = {k: copy.deepcopy(v) for k, v in body.items() if k not in SERVER_OWNED}
            self._validate(kind, caller.sandbox, resource)
            now = self.store.now_ms()
            resource.update(self._stamp(caller, now, created=True))
            resource.update(id=str(uuid.uuid4()), state="enabled")
            self._derive(kind, caller.sandbox, resource, now)
            self.store.put(kind, caller.sandbox, resource)
        return resource

    def patch(
        self, kind: str, caller: Caller, resource_id: str, body: Any, if_match: str | None
    ) -> Resource:
        operations = validate_operations(body)
        for operation in operations:
            _check_patchable(kind, operation["path"])
        with self.store.transaction():
            current = self._current(kind, caller.sandbox, resource_id)
            _check_etag(current, if_match)
            updated = apply_patch(current, operations)
            self._validate(kind, caller.sandbox, updated, patching=True)
            now = self.store.now_ms()
            updated.update(self._stamp(caller, now, created=False))
            if kind == "flows":
                updated["lastOperation"] = _operation("update", operations, now)
            self.store.put(kind, caller.sandbox, updated)
        return updated

    def delete(self, kind: str, caller: Caller, resource_id: str) -> None:
        with self.store.transaction():
            self._current(kind, caller.sandbox, resource_id)
            self._check_unused(kind, caller.sandbox, resource_id)
            self.store.delete(kind, caller.sandbox, resource_id)

    def flow_action(self, caller: Caller, flow_id: str, op: str, if_match: str | None) -> Resource:
        action = op.lower()
        if action not in ("enable", "disable"):
            raise bad_request("1421", f"The action '{op}' is not supported on a flow")
        with self.store.transaction():
            flow = copy.deepcopy(self._current("flows", caller.sandbox, flow_id))
            if if_match is not None:
                _check_etag(flow, if_match)
            wanted = f"{action}d"
            if flow["state"] == wanted:
                raise bad_request(
                    "1420",
                    f"The action {action} cannot be applied on the current state {flow['state']}",
                )
            flow["state"] = wanted
            now = self.store.now_ms()
            flow.update(self._stamp(caller, now, created=False))
            flow["lastOperation"] = _operation(action, [], now)
            self.store.put("flows", caller.sandbox, flow)
        return flow

    def outside_edit(
        self, kind: str, sandbox: str, resource_id: str, operations: list[dict[str, Any]]
    ) -> Resource:
        """A change made elsewhere (the AEP UI): no If-Match, another client, a new etag."""
        caller = Caller(UI_CLIENT, "", sandbox)
        with self.store.transaction():
            current = self._current(kind, sandbox, resource_id)
            updated = apply_patch(current, validate_operations(operations))
            updated.update(self._stamp(caller, self.store.now_ms(), created=False))
            updated["updatedBy"] = "someone.else@AdobeID"
            self.store.put(kind, sandbox, updated)
        return updated

    # helpers -------------------------------------------------------------------------

    def _current(self, kind: str, sandbox: str, resource_id: str) -> Resource:
        resource = self.store.get(kind, sandbox, resource_id)
        if resource is None:
            raise not_found(kind, resource_id)
        return resource

    def _stamp(self, caller: Caller, now: int, created: bool) -> dict[str, Any]:
        etag = self.store.new_etag()
        fields: dict[str, Any] = {
            "updatedAt": now,
            "updatedBy": f"{caller.client_id}@AdobeID",
            "etag": etag,
            "version": etag,
        }
        if created:
            fields.update(
                createdAt=now,
                createdBy=f"{caller.client_id}@AdobeID",
                sandboxId=sandbox_id(caller.sandbox),
                sandboxName=caller.sandbox,
                imsOrgId=caller.org,
            )
        if self.record_clients:
            recorded = self.recorded_as.get(caller.client_id, caller.client_id)
            fields["updatedClient"] = recorded
            if created:
                fields["createdClient"] = recorded
        return fields

    def _derive(self, kind: str, sandbox: str, resource: Resource, now: int) -> None:
        """Server-computed fields: inherited attributes, type info, run links."""
        if kind in ("sourceConnections", "targetConnections"):
            base = self.store.get("connections", sandbox, resource.get("baseConnectionId", ""))
            if base is not None:
                resource["inheritedAttributes"] = {"baseConnection": _brief(base)}
        if kind == "sourceConnections" and resource["connectionSpec"]["id"] == PROFILE_SPEC_ID:
            resource["typeInfo"] = {"type": "ProfileFragments", "id": "ups"}
        if kind == "flows":
            resource["inheritedAttributes"] = self._flow_inheritance(sandbox, resource)
            resource["runs"] = runs_link(resource["id"])
            resource["_links"] = {"runs": {"href": runs_link(resource["id"])}}
            resource["lastOperation"] = _operation("create", [], now)

    def _flow_inheritance(self, sandbox: str, flow: Resource) -> dict[str, Any]:
        def expand(kind: str, ids: list[str]) -> list[dict[str, Any]]:
            expanded = []
            for connection_id in ids:
                connection = self._current(kind, sandbox, connection_id)
                entry = _brief(connection)
                base = self.store.get(
                    "connections", sandbox, connection.get("baseConnectionId", "")
                )
                if base is not None:
                    entry["baseConnection"] = _brief(base)
                if "typeInfo" in connection:
                    entry["typeInfo"] = connection["typeInfo"]
                expanded.append(entry)
            return expanded

        return {
            "properties": {"isDestinationFlow": True},
            "sourceConnections": expand("sourceConnections", flow["sourceConnectionIds"]),
            "targetConnections": expand("targetConnections", flow["targetConnectionIds"]),
        }

    def _check_unused(self, kind: str, sandbox: str, resource_id: str) -> None:
        if kind == "connections":
            for child_kind in ("sourceConnections", "targetConnections"):
                for _, child in self.store.entries(child_kind, sandbox):
                    if child.get("baseConnectionId") == resource_id:
                        raise bad_request(
                            "1418",
                            f"The connection {resource_id} is used by {child_kind} "
                            f"{child['id']} and cannot be deleted",
                        )
        if kind in ("sourceConnections", "targetConnections"):
            field = "sourceConnectionIds" if kind == "sourceConnections" else "targetConnectionIds"
            for _, flow in self.store.entries("flows", sandbox):
                if resource_id in flow.get(field, []):
                    raise bad_request("1447", f"Found active flows containing id {resource_id}")

    def _validate(
        self, kind: str, sandbox: str, resource: Resource, patching: bool = False
    ) -> None:
        try:
            _require_text(resource, "name")
            if kind == "flows":
                self._validate_flow(sandbox, resource)
            else:
                spec = _connection_spec(resource)
                if kind == "connections":
                    _validate_auth(spec, resource)
                else:
                    self._validate_child(kind, sandbox, spec, resource)
        except ApiError as error:
            if patching and not isinstance(error, PatchError):
                raise PatchError(error.message) from None
            raise

    def _validate_child(
        self, kind: str, sandbox: str, spec: dict[str, Any], resource: Resource
    ) -> None:
        base_id = resource.get("baseConnectionId")
        if base_id is None and kind == "targetConnections":
            raise bad_request("1400", "baseConnectionId is required for a target connection")
        if base_id is not None:
            base = self.store.get("connections", sandbox, str(base_id))
            if base is None:
                raise bad_request("1400", f"The base connection {base_id} does not exist")
            if base["connectionSpec"]["id"] != spec["id"]:
                raise bad_request("1400", "The connection spec differs from the base connection's")
        if kind == "targetConnections" and "targetSpec" in spec:
            _validate_params(spec["targetSpec"]["spec"], resource.get("params"), "params")

    def _validate_flow(self, sandbox: str, flow: Resource) -> None:
        flow_spec = flow.get("flowSpec")
        if not isinstance(flow_spec, dict) or flow_spec.get("id") not in FLOW_SPECS:
            raise bad_request("1413", "Please provide a valid spec id")
        if "version" not in flow_spec:
            raise ApiError(422, "1413", "flowSpec.version 'version' is required")
        spec = FLOW_SPECS[flow_spec["id"]]
        for field, kind, allowed in (
            ("sourceConnectionIds", "sourceConnections", spec["sourceConnectionSpecIds"]),
            ("targetConnectionIds", "targetConnections", spec["targetConnectionSpecIds"]),
        ):
            ids = flow.get(field)
            if not isinstance(ids, list) or not ids:
                raise bad_request("1400", f"{field} must be a non-empty list of ids")
            for connection_id in ids:
                connection = self.store.get(kind, sandbox, str(connection_id))
                if connection is None:
                    raise bad_request("1400", f"The {kind} resource {connection_id} does not exist")
                if connection["connectionSpec"]["id"] not in allowed:
                    raise bad_request("1400", f"{connection_id} cannot be used with this flow spec")
        _validate_transformations(flow.get("transformations", []))


def masked(kind: str, resource: Resource) -> Resource:
    """The resource as a read returns it: secret auth params never leave the service."""
    if kind != "connections" or "auth" not in resource:
        return resource
    hidden = secret_params(resource["connectionSpec"]["id"])
    shown = copy.deepcopy(resource)
    params = shown["auth"].get("params", {})
    for key in hidden & params.keys():
        params[key] = MASK
    return shown


def _check_patchable(kind: str, path: str) -> None:
    top = path.lstrip("/").split("/")[0]
    if top in IMMUTABLE:
        code = IMMUTABLE[top]
        thing = "flow" if kind == "flows" else "connection"
        raise bad_request(code, f"The {top} of a {thing} cannot be updated")
    if top in SERVER_OWNED:
        raise PatchError(f"'/{top}' is managed by the service and cannot be changed by PATCH")


def _check_etag(resource: Resource, if_match: str | None) -> None:
    if if_match is None:
        raise bad_request(
            "1403", "Header is missing - The header 'If-Match' is missing in the request"
        )
    if if_match != resource["etag"]:
        raise ApiError(
            412,
            "1404",
            f"Supplied version=[{if_match}] does not match the current version on "
            f"entity=[{resource['etag']}]",
        )


def _brief(resource: Resource) -> dict[str, Any]:
    return {"id": resource["id"], "connectionSpec": dict(resource["connectionSpec"])}


def runs_link(flow_id: str) -> str:
    """Where a dataflow's runs are listed (its `runs` and `_links.runs.href`)."""
    return f"/runs?property=flowId=={flow_id}"


def _operation(name: str, ops: list[dict[str, Any]], now: int) -> dict[str, Any]:
    return {
        "started": now,
        "updated": now,
        "percentCompleted": 100,
        "status": {"value": "completed", "properties": None, "errors": []},
        "ops": copy.deepcopy(ops),
        "operation": name,
    }


def _require_text(resource: Resource, key: str) -> None:
    value = resource.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad_request("1400", f"'{key}' is required and must be a non-empty string")


def _connection_spec(resource: Resource) -> dict[str, Any]:
    spec_ref = resource.get("connectionSpec")
    if not isinstance(spec_ref, dict) or spec_ref.get("id") not in CONNECTION_SPECS:
        raise bad_request("1413", "Please provide a valid spec id")
    if "version" not in spec_ref:
        raise ApiError(422, "1413", "connectionSpec.version 'version' is required")
    return CONNECTION_SPECS[spec_ref["id"]]


def _validate_auth(spec: dict[str, Any], connection: Resource) -> None:
    auth_specs = {a["name"]: a for a in spec["authSpec"]}
    auth = connection.get("auth")
    if not auth_specs:
        if auth:
            raise bad_request("1415", f"The connection spec {spec['name']} takes no auth")
        return
    if not isinstance(auth, dict) or auth.get("specName") not in auth_specs:
        names = ", ".join(auth_specs)
        raise bad_request(
            "1415", f"auth.specName must name an auth spec of {spec['name']}: {names}"
        )
    _validate_params(auth_specs[auth["specName"]]["spec"], auth.get("params"), "auth.params")


def _validate_params(schema: dict[str, Any], params: Any, where: str) -> None:
    if not isinstance(params, dict):
        raise bad_request("1400", f"{where} must be an object")
    missing = [key for key in schema["required"] if not params.get(key)]
    if missing:
        raise bad_request("1400", f"{where} is missing required {', '.join(missing)}")
    alternatives = [option["required"] for option in schema.get("anyOf", [])]
    if alternatives and not any(all(params.get(k) for k in keys) for keys in alternatives):
        wanted = " or ".join(", ".join(keys) for keys in alternatives)
        raise bad_request("1400", f"{where} needs {wanted}")
    unknown = sorted(set(params) - set(schema["properties"]) - {"authorizedDate"})
    if unknown:
        raise bad_request("1400", f"{where} has unknown {', '.join(unknown)}")


_SELECTOR_TYPES = {
    "segmentSelectors": ("PLATFORM_SEGMENT", "id"),
    "profileSelectors": ("JSON_PATH", "path"),
}


def _validate_transformations(transformations: Any) -> None:
    if not isinstance(transformations, list):
        raise bad_request("1400", "transformations must be a list")
    for transformation in transformations:
        params = transformation.get("params", {}) if isinstance(transformation, dict) else None
        if not isinstance(params, dict):
            raise bad_request("1400", "each transformation must be an object with params")
        for group, (selector_type, key) in _SELECTOR_TYPES.items():
            selectors = params.get(group, {}).get("selectors", [])
            seen: set[str] = set()
            for selector in selectors:
                value = selector.get("value") if isinstance(selector, dict) else None
                if (
                    selector.get("type") != selector_type
                    or not isinstance(value, dict)
                    or not isinstance(value.get(key), str)
                ):
                    raise bad_request(
                        "1400",
                        f"each of {group} must be {{type: {selector_type}, value: {{{key}: …}}}}",
                    )
                if value[key] in seen:
                    raise bad_request("1400", f"{group} lists {value[key]} twice")
                seen.add(value[key])
