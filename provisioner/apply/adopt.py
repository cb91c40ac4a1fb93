"""`import`: a manifest for a live dataflow, and the dataflow brought under management.

The manifest is written with the schema comment and credentials as `${env:…}` references
(the platform never gives secrets back), named after the account. The dataflow's target
connection, its account and (if the sandbox has none yet) its profile source are marked as
managed, so a plan of the new manifest finds them; the account's credentials are then
adopted by the first apply, which is all that plan shows.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from provisioner.errors import ProvisionerError
from provisioner.plan.diff import live_attributes, live_audiences
from provisioner.platform.client import PlatformClient
from provisioner.platform.ids import PROFILE_SPEC_ID
from provisioner.state.desired import TYPES_BY_SPEC
from provisioner.state.marker import marker, read_marker

Resource = dict[str, Any]
SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/manifest.schema.json"


class ImportRefused(ProvisionerError):
    """The dataflow cannot be imported."""


def find_flow(client: PlatformClient, flow_id: str | None, name: str | None) -> Resource:
    if flow_id:
        flow = client.get("flows", flow_id, "read the dataflow")
        if flow is None:
            raise ImportRefused(f"no dataflow with id {flow_id} in this sandbox")
        return flow
    found = [
        f
        for f in client.list_all("flows", [], "find the dataflow by name")
        if f.get("name") == name
    ]
    if not found:
        raise ImportRefused(f"no dataflow named '{name}' in this sandbox")
    if len(found) > 1:
        ids = ", ".join(f["id"] for f in found)
        raise ImportRefused(f"{len(found)} dataflows are named '{name}' ({ids}); use --flow-id")
    return found[0]


def import_flow(client: PlatformClient, flow: Resource) -> tuple[str, list[str]]:
    """(manifest YAML, what was marked as managed)."""
    target = _one(client, "targetConnections", flow.get("targetConnectionIds", []), "target")
    kind = TYPES_BY_SPEC.get(target["connectionSpec"]["id"])
    if kind is None:
        raise ImportRefused("only Amazon Kinesis and Azure Event Hubs dataflows can be imported")
    account = _one(client, "connections", [target.get("baseConnectionId")], "account")
    account_key = (read_marker(account) or {}).get("account") or account["name"]
    text = render_manifest(flow, target, account, kind, account_key)
    marked = _adopt(client, flow, target, account, account_key)
    return text, marked


def _one(client: PlatformClient, kind: str, ids: list[Any], what: str) -> Resource:
    if not ids or not ids[0]:
        raise ImportRefused(f"the dataflow has no {what}")
    found = client.get(kind, str(ids[0]), f"read the dataflow's {what}")
    if found is None:
        raise ImportRefused(f"the dataflow's {what} {ids[0]} does not exist")
    return found


def env_prefix(account_key: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", account_key.upper()).strip("_") or "ACCOUNT"


def render_manifest(
    flow: Resource, target: Resource, account: Resource, kind: str, account_key: str
) -> str:
    params = target.get("params") or {}
    auth = (account.get("auth") or {}).get("params") or {}
    prefix = env_prefix(account_key)
    destination = CommentedMap(type=kind, account=account_key)
    if kind == "amazon-kinesis":
        destination.update(
            region=params.get("region") or auth.get("region", ""), stream=params.get("stream", "")
        )
        credentials = {
            "accessKeyId": f"${{env:{prefix}_ACCESS_KEY_ID}}",
            "secretKey": f"${{env:{prefix}_SECRET_KEY}}",
        }
    else:
        destination.update(
            namespace=auth.get("namespace", ""), eventHub=params.get("eventHubName", "")
        )
        credentials = {
            "sasKeyName": f"${{env:{prefix}_SAS_KEY_NAME}}",
            "sasKey": f"${{env:{prefix}_SAS_KEY}}",
        }
    destination["credentials"] = CommentedMap(credentials)
    document = CommentedMap(
        version=1,
        name=flow["name"],
        description=flow.get("description") or "",
        enabled=flow.get("state", "enabled") == "enabled",
        destination=destination,
    )
    document["audiences"] = [_audience(value) for _, _, value in live_audiences(flow)]
    document["attributes"] = [path for _, path in live_attributes(flow)]
    stream = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump(document, stream)
    header = (
        f"{SCHEMA_COMMENT}\n#\n# Imported from dataflow {flow['id']}. Set "
        f"{', '.join(_names(credentials))}\n# before plan or apply: the platform never "
        "gives credentials back.\n"
    )
    return header + stream.getvalue()


def _names(credentials: dict[str, str]) -> list[str]:
    return [ref[len("${env:") : -1] for ref in credentials.values()]


def _audience(value: Resource) -> CommentedMap:
    audience = CommentedMap(id=value.get("id", ""))
    if value.get("name"):
        audience["name"] = value["name"]
    if value.get("description"):
        audience["description"] = value["description"]
    return audience


def _adopt(
    client: PlatformClient, flow: Resource, target: Resource, account: Resource, account_key: str
) -> list[str]:
    marked = []
    if "dataflow" not in (read_marker(target) or {}):
        _mark(client, "targetConnections", target, marker(dataflow=flow["name"]))
        marked.append(f"target connection {target['id']}")
    if "account" not in (read_marker(account) or {}):
        _mark(client, "connections", account, marker(account=account_key))
        marked.append(f"account {account['id']}")
    marked += _adopt_source(client, flow)
    return marked


def _adopt_source(client: PlatformClient, flow: Resource) -> list[str]:
    sources = client.list_all(
        "sourceConnections",
        [f"connectionSpec.id=={PROFILE_SPEC_ID}"],
        "look for the profile source",
    )
    if any("profile" in (read_marker(s) or {}) for s in sources):
        return []
    source = _one(client, "sourceConnections", flow.get("sourceConnectionIds", []), "source")
    _mark(client, "sourceConnections", source, marker(profile=""))
    return [f"profile source connection {source['id']}"]


def _mark(client: PlatformClient, kind: str, resource: Resource, text: str) -> None:
    op = "replace" if "description" in resource else "add"
    client.patch(
        kind,
        resource["id"],
        [{"op": op, "path": "/description", "value": text}],
        resource["etag"],
        f"mark {kind} {resource['id']} as managed",
    )
