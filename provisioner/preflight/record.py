"""The record `check --send-test-record` writes: the shape the platform exports, marked as a test.

The platform writes one JSON document per profile (Adobe's "Exported Data"): the mapped
attributes at their XDM paths, `segmentMembership.ups.<audience id>` with a qualification
time and a status, and `identityMap.<namespace>` as a list of `{"id": …}`. The test record
has the manifest's own attributes and audiences (those given by id: `check` reads nothing of
the platform to look names up), one obviously fake identity, and beside them a `provisionerCheck`
object that says it is a test: a consumer that reads the documented keys sees a record like
the platform's, and one that looks can drop it.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from provisioner import __version__
from provisioner.manifest import Manifest

TEST_MARKER = "provisionerCheck"
TEST_IDENTITY_NAMESPACE = "ecid"
TEST_IDENTITY = "provisioner-check-test-record"
TEST_VALUE = "provisioner check test value"
PARTITION_KEY = TEST_IDENTITY


def record_for(manifest: Manifest, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The test record of a manifest's dataflow, as of `now` (UTC; default: this moment)."""
    moment = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    record: dict[str, Any] = {}
    for path in sorted(manifest.attributes):
        _place(record, path.split("."), TEST_VALUE)
    ids = sorted({a.id for a in manifest.audience_entries() if a.id is not None})
    record["segmentMembership"] = {
        "ups": {
            audience: {"lastQualificationTime": moment, "status": "realized"} for audience in ids
        }
    }
    record["identityMap"] = {TEST_IDENTITY_NAMESPACE: [{"id": TEST_IDENTITY}]}
    record[TEST_MARKER] = {
        "test": True,
        "dataflow": manifest.name,
        "sentAt": moment,
        "tool": f"provisioner {__version__}",
    }
    return record


def encoded(record: dict[str, Any]) -> bytes:
    """The record as the bytes sent: compact UTF-8 JSON."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _place(record: dict[str, Any], steps: list[str], value: str) -> None:
    """`value` at the XDM path `steps`; a path under one already holding a value is left
    out, as the platform leaves out what it cannot place."""
    node = record
    for step in steps[:-1]:
        child = node.setdefault(step, {})
        if not isinstance(child, dict):
            return
        node = child
    if not isinstance(node.get(steps[-1]), dict):
        node[steps[-1]] = value
