"""`import`: a manifest for a live dataflow, and the dataflow brought under management.

The manifest is written with the schema comment and credentials as `${env:…}` references
(the platform never gives secrets back), named after the account. An audience is written by
name when that name is unique among the sandbox's usable audiences (and is the dataflow's
label for it), so the manifest promotes to other sandboxes; by id otherwise. The dataflow
is recorded in its account's marker (the ledger: a documented write) and, if the sandbox
has none yet, its profile source is marked as managed, so a plan of the new manifest finds
them however the dataflow is renamed later; the account's credentials are then adopted by
the first apply, which is all that plan shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from provisioner import destinations
from provisioner.destinations import DestinationType
from provisioner.errors import PlatformError, ProvisionerError
from provisioner.manifest import Manifest
from provisioner.manifest.write import manifest_yaml
from provisioner.plan.diff import live_attributes, live_audiences
from provisioner.platform.audiences import AudienceReader, AudiencesUnavailable
from provisioner.platform.client import PlatformClient
from provisioner.platform.flow_action import is_enabled
from provisioner.platform.ids import PROFILE_SPEC_ID
from provisioner.state.managed import Scope, nfc
from provisioner.state.marker import (
    DEFAULT_PROJECT,
    LEDGER_PREFIX,
    env_of,
    ledger_fields,
    ledger_of,
    marker,
    project_of,
    read_marker,
    scope_fields,
)

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


@dataclass
class Adopted:
    marked: list[str] = field(default_factory=list)  # what was marked as managed
    notes: list[str] = field(default_factory=list)  # what could not be, and what that costs


def import_flow(
    client: PlatformClient,
    flow: Resource,
    schema_from: Path | None = None,
    project: str = DEFAULT_PROJECT,
    env: str | None = None,
) -> tuple[str, Adopted]:
    """(manifest YAML, what was adopted). `schema_from`: the directory the manifest will
    be written in, for the schema comment's relative path."""
    target = _one(client, "targetConnections", flow.get("targetConnectionIds", []), "target")
    kind = destinations.by_spec_id(str((target.get("connectionSpec") or {}).get("id", "")))
    if kind is None:
        labels = " and ".join(d.label for d in destinations.ALL)
        raise ImportRefused(f"only {labels} dataflows can be imported")
    account = _one(client, "connections", [target.get("baseConnectionId")], "account")
    account_key = (read_marker(account) or {}).get("account") or str(account.get("name", ""))
    names, note = audience_names(client, flow)
    text = render_manifest(flow, target, account, kind, account_key, schema_from, names)
    adopted = _adopt(client, flow, account, account_key, Scope(project, env))
    adopted.notes += [note] if note else []
    return text, adopted


def audience_names(client: PlatformClient, flow: Resource) -> tuple[dict[str, str], str]:
    """(lowercased id -> name, for the dataflow's audiences that can be written by name;
    a note when the sandbox's audiences cannot be read). An audience qualifies when it is
    usable, its platform name is the dataflow's label for it, and no other usable audience
    of the sandbox has that name: resolving the name then gives this audience back."""
    labels = {
        audience_id: str(value.get("name") or "") for _, audience_id, value in live_audiences(flow)
    }
    if not labels:
        return {}, ""
    reader = AudienceReader(client)
    try:
        found = reader.by_ids(labels)
        candidates = {
            i: a.name for i, a in found.items() if a.usable and a.name and a.name == labels[i]
        }
        matches = reader.by_names(set(candidates.values()))
    except AudiencesUnavailable as unavailable:
        return {}, f"audiences are written by id: {unavailable}"
    unique = {
        i: name
        for i, name in candidates.items()
        if [a.id.lower() for a in matches.exact(name) if a.usable] == [i]
    }
    return unique, ""


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
    by_name: Mapping[str, str] | None = None,
) -> str:
    """The manifest of a live dataflow, validated as any manifest is, then written;
    audiences in `by_name` (lowercased id -> name) by name alone, the others by id."""
    env_names = kind.env_names(env_prefix(account_key))
    document: dict[str, Any] = {
        "version": 1,
        "name": flow.get("name", ""),
        "description": flow.get("description") or "",
        "enabled": is_enabled(flow),
        "destination": {
            "type": kind.type,
            "account": account_key,
            **kind.manifest_fields(target, account),
            "credentials": {k: f"${{env:{v}}}" for k, v in env_names.items()},
        },
        "audiences": [
            _audience(value, (by_name or {}).get(audience_id))
            for _, audience_id, value in live_audiences(flow)
        ],
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


def _audience(value: Resource, name: str | None = None) -> dict[str, str]:
    audience = {"name": name} if name else {"id": str(value.get("id", ""))}
    for key in ("name", "description"):
        if value.get(key):
            audience[key] = str(value[key])
    return audience


def _adopt(
    client: PlatformClient,
    flow: Resource,
    account: Resource,
    account_key: str,
    scope: Scope,
) -> Adopted:
    """The account's marker records the dataflow in its ledger, for this project and
    environment (a documented write): that is what proves the dataflow is managed, on any
    platform, whatever it is renamed to later. The profile source is marked too where the
    platform allows it (no document shows that write)."""
    adopted = Adopted()
    fields = read_marker(account) or {}
    if "account" in fields:
        owner = Scope(project_of(fields), env_of(fields))
        if owner.project != scope.project:
            raise ImportRefused(
                f"the dataflow's account belongs to project '{owner.project}'; import it "
                "from that project"
            )
        if not scope.holds(owner):
            raise ImportRefused(
                f"the dataflow's account belongs to environment '{owner.env}'; import it "
                "with that --env"
            )
    ledger = ledger_of(fields) | {str(flow["id"]): nfc(flow.get("name"))}
    # What else the marker records (fingerprint, references, writers) is kept as it is.
    kept = {
        k: v
        for k, v in fields.items()
        if k not in ("project", "env", "account") and not k.startswith(LEDGER_PREFIX)
    }
    text = marker(
        **scope_fields(scope.project, scope.env),
        account=account_key,
        **({"fingerprint": ""} | kept),
        **ledger_fields(ledger),
    )
    _mark(client, "connections", account, text)
    adopted.marked.append(f"account {account['id']} (recording dataflow {flow['id']})")
    adopted.marked += _adopt_source(client, flow, adopted)
    return adopted


def _adopt_source(client: PlatformClient, flow: Resource, adopted: Adopted) -> list[str]:
    sources = client.list_all(
        "sourceConnections",
        [f"connectionSpec.id=={PROFILE_SPEC_ID}"],
        "look for the profile source",
    )
    if any("profile" in (read_marker(s) or {}) for s in sources):
        return []
    source = _one(client, "sourceConnections", flow.get("sourceConnectionIds", []), "source")
    if _try_mark(client, "sourceConnections", source, marker(profile=""), adopted):
        return [f"profile source connection {source['id']}"]
    return []


def _try_mark(
    client: PlatformClient, kind: str, resource: Resource, text: str, adopted: Adopted
) -> bool:
    """A write no document shows: when the platform refuses it, say what that costs."""
    try:
        _mark(client, kind, resource, text)
    except PlatformError as error:
        what = "target connection" if kind == "targetConnections" else "profile source"
        adopted.notes.append(
            f"the {what} could not be marked as managed ({str(error).splitlines()[0]}); "
            "the dataflow is found through its account and its name instead, so renaming "
            "it in the AEP UI makes it unknown to provisioner, and drift is not labelled"
        )
        return False
    return True


def _mark(client: PlatformClient, kind: str, resource: Resource, text: str) -> None:
    # `add` replaces an existing member too (RFC 6902), and is the documented op.
    client.patch(
        kind,
        resource["id"],
        [{"op": "add", "path": "/description", "value": text}],
        resource["etag"],
        f"mark {kind} {resource['id']} as managed",
    )
