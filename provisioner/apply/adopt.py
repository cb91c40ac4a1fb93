"""`import`: a manifest for a live dataflow, and the dataflow brought under management.

The manifest is written with the schema comment and credentials as `${env:…}` references
(the platform never gives secrets back), named after the account. The dataflow's target
connection, its account and (if the sandbox has none yet) its profile source are marked as
managed, so a plan of the new manifest finds them; the account's credentials are then
adopted by the first apply, which is all that plan shows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from provisioner import destinations
from provisioner.destinations import DestinationType
from provisioner.errors import ProvisionerError
from provisioner.manifest import Manifest
from provisioner.manifest.write import manifest_yaml
from provisioner.plan.diff import live_attributes, live_audiences
from provisioner.platform.client import PlatformClient
from provisioner.platform.ids import PROFILE_SPEC_ID
from provisioner.state.marker import marker, read_marker

Resource = dict[str, Any]
SCHEMA_FILE = Path("schemas") / "manifest.schema.json"


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


def import_flow(
    client: PlatformClient, flow: Resource, schema_from: Path | None = None
) -> tuple[str, list[str]]:
    """(manifest YAML, what was marked as managed). `schema_from`: the directory the
    manifest will be written in, for the schema comment's relative path."""
    target = _one(client, "targetConnections", flow.get("targetConnectionIds", []), "target")
    kind = destinations.by_spec_id(str((target.get("connectionSpec") or {}).get("id", "")))
    if kind is None:
        labels = " and ".join(d.label for d in destinations.ALL)
        raise ImportRefused(f"only {labels} dataflows can be imported")
    account = _one(client, "connections", [target.get("baseConnectionId")], "account")
    account_key = (read_marker(account) or {}).get("account") or str(account.get("name", ""))
    text = render_manifest(flow, target, account, kind, account_key, schema_from)
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
    flow: Resource,
    target: Resource,
    account: Resource,
    kind: DestinationType,
    account_key: str,
    schema_from: Path | None = None,
) -> str:
    """The manifest of a live dataflow, validated as any manifest is, then written."""
    env_names = kind.env_names(env_prefix(account_key))
    document: dict[str, Any] = {
        "version": 1,
        "name": flow.get("name", ""),
        "description": flow.get("description") or "",
        "enabled": flow.get("state", "enabled") == "enabled",
        "destination": {
            "type": kind.type,
            "account": account_key,
            **kind.manifest_fields(target, account),
            "credentials": {k: f"${{env:{v}}}" for k, v in env_names.items()},
        },
        "audiences": [_audience(value) for _, _, value in live_audiences(flow)],
        "attributes": [path for _, path in live_attributes(flow)],
    }
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ImportRefused(
            f"the live dataflow cannot be written as a valid manifest: {where}: {problem['msg']}"
        ) from None
    comments = [
        f"yaml-language-server: $schema={_schema_path(schema_from)}",
        "",
        f"Imported from dataflow {flow.get('id', '')}. Set {', '.join(env_names.values())}",
        "before plan or apply: the platform never gives credentials back.",
    ]
    return manifest_yaml(manifest, comments)


def _schema_path(schema_from: Path | None) -> str:
    """The schema's path relative to where the manifest is written (the repository's
    schemas/ folder when that is found above it, else the published URL)."""
    if schema_from is None:
        return "../../" + SCHEMA_FILE.as_posix()
    here = schema_from.resolve()
    for folder in (here, *here.parents):
        if (folder / SCHEMA_FILE).is_file():
            return Path(os.path.relpath(folder / SCHEMA_FILE, here)).as_posix()
    return "https://provisioner.dev/schemas/manifest.schema.json"


def _audience(value: Resource) -> dict[str, str]:
    audience = {"id": str(value.get("id", ""))}
    for field in ("name", "description"):
        if value.get(field):
            audience[field] = str(value[field])
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
