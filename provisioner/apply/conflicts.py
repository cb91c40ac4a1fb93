"""A planned write refused with 412: the object's etag moved since the plan read it.

The platform writes to objects on its own (Adobe's published captures: a dataflow is
rewritten seconds after each run, a new connection's etag moves about 2 s after its
creation), so a moved etag is no sign that anyone changed what the plan was computed
against. On a 412 the object is read again: when what the tool manages on it is as the plan
found it (its content digest, `provisioner.plan.content`), the same write is sent once more
with the new etag; otherwise the 412 stands, and the caller fails as before ("changed since
it was read; run plan again").
"""

from __future__ import annotations

import logging
from typing import Any

from provisioner.plan.content import content_digest
from provisioner.platform.client import PlatformClient
from provisioner.platform.failures import ApiCallError

Resource = dict[str, Any]
log = logging.getLogger("provisioner.apply")


def patch_as_planned(
    client: PlatformClient,
    kind: str,
    resource_id: str,
    operations: list[Resource],
    etag: str,
    digest: str | None,
    operation: str,
) -> str | None:
    """PATCH with If-Match `etag`; on a 412, one re-read and, when its content digest is
    still `digest`, one retry with its etag. The new etag, as `PlatformClient.patch`."""
    try:
        return client.patch(kind, resource_id, operations, etag, operation)
    except ApiCallError as refused:
        if refused.status != 412 or digest is None:
            raise
        moved = _moved_etag(client, kind, resource_id, digest, operation)
        if moved is None:
            raise
    log.info("%s: its etag moved, its content did not; sent again", operation)
    return client.patch(kind, resource_id, operations, moved, operation)


def _moved_etag(
    client: PlatformClient, kind: str, resource_id: str, digest: str, operation: str
) -> str | None:
    """The object's etag now, when its content is still as planned; else None."""
    current = client.get(kind, resource_id, f"read again after a 412: {operation}")
    if current is None or content_digest(current) != digest:
        return None
    etag = current.get("etag")
    return etag if isinstance(etag, str) and etag else None
