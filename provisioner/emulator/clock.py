"""Moving the emulator's clock from outside: `provisioner emulator advance` (on the embedded
emulator's data file, or a served emulator through `POST /emulator/advance`), and `serve
--run-every SECONDS`, which advances one emulated hour every SECONDS of real time.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from provisioner.emulator import admin
from provisioner.emulator.audiences import Audiences
from provisioner.emulator.runs import Runs
from provisioner.emulator.store import Store

ADVANCE_TIMEOUT_S = 300.0  # a month of hourly runs of many dataflows takes a while


def advance_store(store: Store, hours: int) -> dict[str, Any]:
    """Advance the emulator whose data `store` holds; the answer `POST /emulator/advance`
    gives."""
    return advanced(Runs(store, Audiences(store)), hours)


def advanced(runs: Runs, hours: int) -> dict[str, Any]:
    """Advance `runs` `hours` hours: the clock, and a brief of each run made."""
    made = runs.advance(hours)
    return {**clock(runs), "runs": [run_brief(runs, run) for run in made]}


def clock(runs: Runs) -> dict[str, int]:
    return {"now": runs.store.now_ms(), "offsetMs": runs.store.clock_offset_ms()}


def run_brief(runs: Runs, run: Mapping[str, Any]) -> dict[str, Any]:
    """One line's worth of a run: what `emulator advance` prints."""
    summary = run["metrics"]["recordSummary"]
    flow = runs.store.get("flows", run["sandboxName"], run["flowId"]) or {}
    return {
        "id": run["id"],
        "flowId": run["flowId"],
        "flowName": flow.get("name", ""),
        "sandboxName": run["sandboxName"],
        "status": run["metrics"]["statusSummary"]["status"],
        "startedAtUTC": run["metrics"]["durationSummary"]["startedAtUTC"],
        "activated": summary["outputRecordCount"],
        "excluded": summary["skippedRecordCount"],
        "failed": summary["failedRecordCount"],
    }


def advance_served(url: str, hours: int, client_id: str, client_secret: str) -> dict[str, Any]:
    """Advance a served emulator through its admin endpoint; httpx.HTTPError when it cannot
    be reached, ValueError when it refuses."""
    response = httpx.post(
        f"{url.rstrip('/')}/emulator/advance",
        json={"hours": hours},
        headers={"Authorization": admin.basic_authorization(client_id, client_secret)},
        timeout=ADVANCE_TIMEOUT_S,
    )
    if response.status_code != 200:
        raise ValueError(f"the emulator at {url} answered {response.status_code}: {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


def report(answer: dict[str, Any]) -> list[str]:
    """What `emulator advance` prints: a line per run, then the clock."""
    lines = [
        f"{run['sandboxName']}  {run['flowName']}  {run['status']}: {run['activated']} "
        f"activated, {run['excluded']} excluded, {run['failed']} failed  (run {run['id']})"
        for run in answer["runs"]
    ]
    flows = len({run["flowId"] for run in answer["runs"]})
    moment = datetime.datetime.fromtimestamp(answer["now"] / 1000, datetime.UTC)
    ahead = answer["offsetMs"] / 3_600_000
    lines.append(
        f"{len(answer['runs'])} run(s) of {flows} dataflow(s); emulator clock "
        f"{moment:%Y-%m-%dT%H:%M:%SZ} ({ahead:+g}h from real time)"
    )
    return lines


class Ticker:
    """Advances an emulator one hour every `seconds` of real time, on a daemon thread,
    until stopped."""

    def __init__(self, runs: Runs, seconds: float) -> None:
        self.runs = runs
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="emulator-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 5)

    def _tick(self) -> None:
        while not self._stop.wait(self.seconds):
            self.runs.advance(1)
