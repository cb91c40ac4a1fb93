"""Faults of a destination, which make the emulator's dataflow runs fail.

Request faults (`faults.py`) break the API; these break delivery: a run of any dataflow
whose target connection has a fault fails, as the platform records a failure (status
`failed`, an error `{code, message, count, type}`, every record it would have exported
counted as failed, nothing written). Kept in the emulator's data, so a fault set on a
served emulator also holds for `provisioner emulator advance --db` on the same file.

- `unreachable`: the stream or event hub cannot be reached (deleted, wrong region, network);
- `rejected`: the destination refuses the credentials (a rotated access key or SAS key).

Both carry `CONNECTOR-1001-500`, the code real captures show for a destination's failures.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from provisioner.emulator.store import Resource, Store

RunFault = Literal["unreachable", "rejected"]
RUN_FAULTS: tuple[RunFault, ...] = ("unreachable", "rejected")
SETTING = "run-faults"
CONNECTOR_CODE = "CONNECTOR-1001-500"


class RunFaults:
    """Target connection id -> the fault its dataflows' runs meet, for how many runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def set(self, target_id: object, fault: object, runs: object = None) -> None:
        """Fail the next `runs` runs (every run until cleared, when None) of the dataflows
        that deliver to target connection `target_id`. Values come from JSON as well, so
        each is checked (ValueError)."""
        if not isinstance(target_id, str) or not target_id:
            raise ValueError("targetConnectionId must be a target connection id")
        if fault not in RUN_FAULTS:
            raise ValueError(f"unknown run fault {fault!r}; one of {', '.join(RUN_FAULTS)}")
        if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
            raise ValueError("runs must be a whole number of at least 1, or null for every run")
        with self.store.transaction():
            faults = self.listed()
            faults[target_id] = {"fault": fault, "runs": runs}
            self.store.set_setting(SETTING, faults)

    def clear(self, target_id: str | None = None) -> None:
        """Forget one target connection's fault, or all of them."""
        with self.store.transaction():
            faults = self.listed() if target_id is not None else {}
            faults.pop(target_id or "", None)
            self.store.set_setting(SETTING, faults)

    def listed(self) -> dict[str, dict[str, Any]]:
        faults = self.store.setting(SETTING)
        return dict(faults) if isinstance(faults, dict) else {}

    def take(self, target_ids: list[str]) -> tuple[str, RunFault] | None:
        """The fault a run delivering to `target_ids` meets (target id, fault), counting the
        run against it; must run inside the run's `transaction()`."""
        faults = self.listed()
        for target_id in target_ids:
            entry = faults.get(target_id)
            if entry is None:
                continue
            runs = entry.get("runs")
            if runs is not None:
                if runs <= 1:
                    del faults[target_id]
                else:
                    entry["runs"] = runs - 1
                self.store.set_setting(SETTING, faults)
            return target_id, cast(RunFault, entry["fault"])
        return None


def run_error(fault: RunFault, target: Resource | None, count: int) -> dict[str, Any]:
    """The error a failed run records, in the platform's `{code, message, count, type}`."""
    params = (target or {}).get("params") or {}
    if "eventHubName" in params:
        where = f"the Azure Event Hub '{params['eventHubName']}'"
    elif "stream" in params:
        where = f"the Amazon Kinesis stream '{params['stream']}' ({params.get('region', '?')})"
    else:
        where = "the destination"
    if fault == "unreachable":
        message = f"Failed to deliver records: {where} could not be reached."
    else:
        message = f"Failed to deliver records: {where} rejected the connection's credentials."
    return {"code": CONNECTOR_CODE, "message": message, "count": count, "type": "Error"}
