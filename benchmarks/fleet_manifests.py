"""The fleet's manifests: one file per dataflow, half Amazon Kinesis, half Azure Event Hubs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.fleet_options import Options


def _audience_id(flow: int, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fleet-audience-{flow}-{index}"))


ATTRIBUTE_PATHS = (
    "person.lastName",
    "personalEmail.address",
    "person.name.firstName",
    "mobilePhone.number",
    "homeAddress.city",
)


def manifest_text(index: int, options: Options, extra_audiences: int = 0) -> str:
    """Dataflow `index` of the fleet: the first half Kinesis, the second Event Hubs; each
    half shares half of the accounts."""
    kinesis = index < (options.flows + 1) // 2
    per_type = max(1, options.accounts // 2)
    account = f"{'kinesis' if kinesis else 'eventhubs'}-account-{index % per_type:02d}"
    lines = ["version: 1", f"name: fleet-{index:05d}", "destination:"]
    if kinesis:
        lines += [
            "  type: amazon-kinesis",
            f"  account: {account}",
            "  region: us-east-1",
            f"  stream: stream-{index:05d}",
            "  credentials:",
            "    accessKeyId: ${env:FLEET_KEY_ID}",
            "    secretKey: ${env:FLEET_SECRET}",
        ]
    else:
        lines += [
            "  type: azure-event-hubs",
            f"  account: {account}",
            f"  namespace: fleet-namespace-{index % per_type:02d}",
            f"  eventHub: hub-{index:05d}",
            "  credentials:",
            "    sasKeyName: ${env:FLEET_KEY_ID}",
            "    sasKey: ${env:FLEET_SECRET}",
        ]
    lines.append("audiences:")
    for j in range(options.audiences + extra_audiences):
        lines += [f"  - id: {_audience_id(index, j)}", f"    name: Audience {j}"]
    lines.append("attributes:")
    lines += [f"  - {path}" for path in ATTRIBUTE_PATHS[: options.attributes]]
    return "\n".join(lines) + "\n"


def write_manifests(folder: Path, options: Options, extra_audiences: int = 0) -> None:
    """Writes (or rewrites) one manifest file per dataflow."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(options.flows):
        text = manifest_text(index, options, extra_audiences)
        (folder / f"fleet-{index:05d}.yaml").write_text(text, encoding="utf-8")


def expected_accounts(options: Options) -> int:
    per_type = max(1, options.accounts // 2)
    kinesis = (options.flows + 1) // 2
    return min(per_type, kinesis) + min(per_type, options.flows - kinesis)


# measuring -----------------------------------------------------------------------------
