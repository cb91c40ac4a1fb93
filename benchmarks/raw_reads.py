"""The Flow Service read as a script reads it: plain HTTP, no list filter, one id at a time.

The per-object baseline of `benchmarks/fleet.py`, and the raw lists its checks count
(dataflows, target connections, accounts) without going through the tool.
"""

from __future__ import annotations

from typing import Any

import httpx

from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_ORG
from provisioner.platform.ids import FLOW_SERVICE_PATH

PAGE = 100


def baseline_read(url: str, token: str) -> int:
    """What a script does without list filters: every dataflow, then its target connection
    and its account, one GET by id at a time. Returns the dataflows read."""
    headers = api_headers(token)
    with httpx.Client(base_url=url + FLOW_SERVICE_PATH, headers=headers, timeout=60) as client:
        flows = list_all(client, "/flows")
        for listed in flows:
            flow = _one(client, f"/flows/{listed['id']}")
            target = _one(client, f"/targetConnections/{flow['targetConnectionIds'][0]}")
            _one(client, f"/connections/{target['baseConnectionId']}")
    return len(flows)


def api_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": DEFAULT_CLIENT_ID,
        "x-gw-ims-org-id": DEFAULT_ORG,
        "x-sandbox-name": "prod",
    }


def _one(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    response.raise_for_status()
    item: dict[str, Any] = response.json()["items"][0]
    return item


def list_all(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] | None = {"limit": PAGE}
    for _ in range(100_000):  # bounded: a page at a time until there is no next page
        response = client.get(path, params=params)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        next_href = page.get("_links", {}).get("next", {}).get("href")
        if not next_href:
            break
        path, _, query = next_href.partition("?")
        params = dict(pair.split("=", 1) for pair in query.split("&"))
    return items
