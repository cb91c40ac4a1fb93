"""Dataflow runs: the emulator's clock, the hourly runs of streaming dataflows, the run
records of the Flow Service's `/runs`, and what each run exported.

The clock is real time plus an offset kept in the emulator's data (`Store.now_ms`); only
`advance` moves the offset. Each emulated hour, every enabled dataflow with at least one
audience runs once, in every sandbox, as the platform runs streaming destinations hourly.
A run counts the profiles of the dataflow's audiences (`profiles.py`):

- input: the distinct profiles in its audiences;
- skipped (excluded): those holding none of the mapped attributes, when any are mapped;
- output (activated, also `createdRecordCount`): the others, exported one record each;
- failed: 0, or, when the target connection has a run fault (`run_faults.py`), every
  record the run would have exported (and it exports nothing).

A profile in two of the audiences is one record and counts once in the run's totals, and
once in each audience's entity summary. The run is recorded as the platform records it
(created by `AepActivationService`, updated by `acp_foundation_connectors`), then the
dataflow is rewritten as the platform does after a run: `lastRunDetails`, a new etag and
`updatedAt`, the platform's client as last writer, `createTime`/`updateTime` on audience
selectors and `mapping` on attribute selectors, and nothing the dataflow's owner manages.

Runs are read through `GET /runs` and `GET /runs/{id}` only; the newest RUNS_KEPT runs of
each dataflow are kept, and the exported records of its newest RECORDS_KEPT.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioner.emulator.audiences import Audiences
from provisioner.emulator.errors import not_found
from provisioner.emulator.profiles import (
    Profile,
    audience_size,
    excluded,
    exported_record,
    members,
)
from provisioner.emulator.query import parse_filter
from provisioner.emulator.resources import runs_link
from provisioner.emulator.run_faults import RunFault, RunFaults, run_error
from provisioner.emulator.sandboxes import PROD
from provisioner.emulator.store import Entry, Resource, Store

HOUR_MS = 3_600_000
MAX_HOURS = 24 * 31  # one call moves the clock a month at most
RUNS_KEPT = 24 * 14  # two weeks of hourly runs per dataflow
RECORDS_KEPT = 3
LIST_LIMIT = 100  # /runs answers at most this many, newest first
RUN_CREATOR = "AepActivationService"
PLATFORM_WRITER = "acp_foundation_connectors"
# A run ends a minute before the hour it belongs to is over, and the platform rewrites its
# dataflow 4.4 s after (as a real capture shows): nothing the platform writes is later
# than the emulator's now.
STARTS_BEFORE_MS = 60_000
REWRITTEN_AFTER_MS = 4_400
SKIP_CODE = "ACTIVATION_BATCH-0000-SKIP"
# Delivers a run's records (sandbox, dataflow, records): the target connection and fault
# that failed the delivery, or None (delivered, or not deliverable and said so).
Deliver = Callable[[str, Resource, list[dict[str, Any]]], tuple[str, RunFault] | None]


@dataclass
class _Count:
    """Records counted for one audience, or for the whole run."""

    input: int = 0
    skipped: int = 0

    @property
    def exportable(self) -> int:
        return self.input - self.skipped


@dataclass
class _Tally:
    total: _Count = field(default_factory=_Count)
    audiences: dict[str, _Count] = field(default_factory=dict)
    # Each exported profile, and the mapped audiences it is in.
    exported: list[tuple[Profile, list[str]]] = field(default_factory=list)


class Runs:
    def __init__(self, store: Store, audiences: Audiences, record_clients: bool = True) -> None:
        self.store = store
        self.audiences = audiences
        self.faults = RunFaults(store)
        self.record_clients = record_clients
        # Writes a run's records to its destination (`serve --deliver`, `delivery.py`).
        self.deliver: Deliver | None = None

    # running -------------------------------------------------------------------------

    def advance(self, hours: int = 1) -> list[Resource]:
        """Move the clock `hours` hours on; each hour, run every enabled dataflow that has
        an audience, in every sandbox. Returns the runs made, oldest first."""
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
            raise ValueError(f"hours must be a whole number from 1 to {MAX_HOURS}")
        made = []
        for _ in range(hours):
            with self.store.transaction():
                self.store.shift_clock(HOUR_MS)
            hour_end = self.store.now_ms()
            for sandbox in sorted(self.store.sandbox_names() | {PROD}):
                for flow_id in self._due(sandbox):
                    run = self.run_flow(sandbox, flow_id, hour_end)
                    if run is not None:
                        made.append(run)
        return made

    def _due(self, sandbox: str) -> list[str]:
        flows = sorted(
            (flow for _, flow in self.store.entries("flows", sandbox) if _runs(flow)),
            key=lambda flow: (flow.get("createdAt", 0), flow["id"]),
        )
        return [flow["id"] for flow in flows]

    def run_flow(self, sandbox: str, flow_id: str, hour_end: int) -> Resource | None:
        """Run one dataflow in the hour ending at `hour_end` (epoch ms); None when it is no
        longer due (deleted, disabled or emptied since it was listed)."""
        with self.store.transaction():
            stored = self.store.get("flows", sandbox, flow_id)
            if stored is None or not _runs(stored):
                return None
            flow = copy.deepcopy(stored)
            started = hour_end - STARTS_BEFORE_MS
            _stamp_selectors(flow, started)
            tally = self._tally(sandbox, flow)
            fault = self.faults.take(list(flow.get("targetConnectionIds") or []))
            records = None if fault else _records(flow, tally)
            if records and self.deliver is not None:
                # Within the run's transaction (the delivery has a deadline of its own): a
                # dataflow changed meanwhile is never overwritten by the run's rewrite.
                fault = self.deliver(sandbox, flow, records)
                records = None if fault else records
            run = self._run(sandbox, flow, tally, fault, started)
            self.store.put_run(sandbox, run, json.dumps(records or []), RUNS_KEPT, RECORDS_KEPT)
            self.store.put("flows", sandbox, self._rewritten(flow, run))
        return run

    def _tally(self, sandbox: str, flow: Resource) -> _Tally:
        attributes = _attributes(flow)
        tally = _Tally()
        profiles: dict[int, list[str]] = {}  # profile index -> its mapped audiences
        for audience_id in _audiences(flow):
            count = tally.audiences.setdefault(audience_id, _Count())
            size = audience_size(self.audiences, sandbox, audience_id)
            for profile in members(sandbox, audience_id, size):
                count.input += 1
                count.skipped += excluded(profile, attributes)
                profiles.setdefault(profile.index, []).append(audience_id)
        for index, audience_ids in sorted(profiles.items()):
            profile = Profile(sandbox, index)
            tally.total.input += 1
            if excluded(profile, attributes):
                tally.total.skipped += 1
            else:
                tally.exported.append((profile, audience_ids))
        return tally

    def _run(
        self,
        sandbox: str,
        flow: Resource,
        tally: _Tally,
        fault: tuple[str, RunFault] | None,
        started: int,
    ) -> Resource:
        completed = started + min(2_000 + 10 * tally.total.input, 50_000)
        errors = []
        if fault is not None:
            target = self.store.get("targetConnections", sandbox, fault[0])
            errors = [run_error(fault[1], target, tally.total.exportable)]
        run: Resource = {
            "id": str(uuid.uuid4()),
            "flowId": flow["id"],
            "flowSpec": copy.deepcopy(flow.get("flowSpec")),
            "createdAt": started,
            "updatedAt": completed,
            "createdBy": f"{RUN_CREATOR}@AdobeID",
            "updatedBy": f"{PLATFORM_WRITER}@AdobeID",
            "sandboxId": flow.get("sandboxId"),
            "sandboxName": sandbox,
            "imsOrgId": flow.get("imsOrgId"),
            "etag": self.store.new_etag(),
            "metrics": {
                "durationSummary": {"startedAtUTC": started, "completedAtUTC": completed},
                "recordSummary": _record_summary(flow, tally, errors),
                "statusSummary": {"status": "failed" if errors else "success", "errors": errors},
            },
        }
        if self.record_clients:
            run.update(createdClient=RUN_CREATOR, updatedClient=PLATFORM_WRITER)
        return run

    def _rewritten(self, flow: Resource, run: Resource) -> Resource:
        """The dataflow as the platform leaves it after `run` (`flow` has its selectors
        stamped already)."""
        duration = run["metrics"]["durationSummary"]
        etag = self.store.new_etag()
        flow.update(
            etag=etag,
            version=etag,
            updatedAt=duration["completedAtUTC"] + REWRITTEN_AFTER_MS,
            updatedBy=f"{PLATFORM_WRITER}@AdobeID",
            runs=runs_link(flow["id"]),
            lastRunDetails={
                "id": run["id"],
                "state": run["metrics"]["statusSummary"]["status"],
                "startedAtUTC": duration["startedAtUTC"],
                "completedAtUTC": duration["completedAtUTC"],
            },
        )
        flow["_links"] = {**(flow.get("_links") or {}), "runs": {"href": runs_link(flow["id"])}}
        if self.record_clients:
            flow["updatedClient"] = PLATFORM_WRITER
        return flow

    # reading -------------------------------------------------------------------------

    def entries(self, sandbox: str, filters: Iterable[str]) -> list[Entry]:
        """The runs a `/runs` list chooses from: those of the dataflows a `flowId==` filter
        names, or all the sandbox's (the filters themselves are applied by the caller)."""
        return self.store.runs(sandbox, _flow_ids(filters))

    def read(self, sandbox: str, run_id: str) -> Resource:
        found = self.store.runs(sandbox, run_id=run_id)
        if not found:
            raise not_found("runs", run_id)
        return found[0][1]

    def exported(self, flow_id: str, run_id: str | None = None) -> dict[str, Any] | None:
        """What a run of a dataflow (its newest, without `run_id`) exported: `{flowId, runId,
        sandboxName, status, records}`, records None once no longer kept; None when the
        dataflow has no such run."""
        found = self.store.run_records(flow_id, run_id)
        if found is None:
            return None
        run, records = found
        return {
            "flowId": flow_id,
            "runId": run["id"],
            "sandboxName": run["sandboxName"],
            "status": run["metrics"]["statusSummary"]["status"],
            "records": records,
        }

    def records(self, flow_id: str, run_id: str | None = None) -> list[dict[str, Any]]:
        """The records a run of a dataflow (its newest, without `run_id`) exported; a failed
        run exported none. LookupError when there is no such run or its records are gone."""
        found = self.exported(flow_id, run_id)
        if found is None or found["records"] is None:
            raise LookupError(f"no exported records kept for dataflow {flow_id} run {run_id}")
        records: list[dict[str, Any]] = found["records"]
        return records


def _records(flow: Resource, tally: _Tally) -> list[dict[str, Any]]:
    """What a successful run exports: one record per exported profile."""
    attributes = _attributes(flow)
    return [
        exported_record(profile, attributes, _qualified(flow, audience_ids))
        for profile, audience_ids in tally.exported
    ]


def _selectors(flow: Resource, group: str) -> list[dict[str, Any]]:
    """The values of a dataflow's selectors of `group`, as stored: stamping one stamps the
    dataflow."""
    transformations = flow.get("transformations") or []
    first = transformations[0] if transformations else {}
    params = (first.get("params") if isinstance(first, dict) else None) or {}
    selectors = (params.get(group) or {}).get("selectors") or []
    return [
        s["value"] for s in selectors if isinstance(s, dict) and isinstance(s.get("value"), dict)
    ]


def _audiences(flow: Resource) -> list[str]:
    return list(
        dict.fromkeys(str(v["id"]) for v in _selectors(flow, "segmentSelectors") if "id" in v)
    )


def _attributes(flow: Resource) -> list[str]:
    paths = (str(v["path"]) for v in _selectors(flow, "profileSelectors") if "path" in v)
    return list(dict.fromkeys(paths))


def _runs(flow: Resource) -> bool:
    """Whether a dataflow is run: enabled, with at least one audience."""
    return str(flow.get("state", "")).lower() == "enabled" and bool(_audiences(flow))


def _stamp_selectors(flow: Resource, started: int) -> None:
    """What the platform adds to selectors once they have run: `createTime` (when the
    audience was first exported) and `updateTime` on audiences, as epoch seconds in
    strings, and a `mapping` on attributes."""
    seconds = str(started // 1000)
    for value in _selectors(flow, "segmentSelectors"):
        value.setdefault("createTime", seconds)
        value["updateTime"] = seconds
    for value in _selectors(flow, "profileSelectors"):
        path = value.get("path")
        value.setdefault(
            "mapping",
            {
                "sourceType": "text/x.schema-path",
                "source": path,
                "destination": path,
                "identity": False,
                "primaryIdentity": False,
                "functionVersion": 0,
                "copyModeMapping": False,
                "sourceAttribute": path,
                "destinationXdmPath": path,
            },
        )


def _qualified(flow: Resource, audience_ids: list[str]) -> dict[str, int]:
    """Audience id -> when the dataflow began exporting it (its selector's createTime), ms."""
    mapped = {
        str(v["id"]): int(v["createTime"]) * 1000
        for v in _selectors(flow, "segmentSelectors")
        if str(v.get("createTime", "")).isdigit()
    }
    return {audience_id: mapped.get(audience_id, 0) for audience_id in audience_ids}


def _record_summary(flow: Resource, tally: _Tally, errors: list[dict[str, Any]]) -> Resource:
    failed = bool(errors)

    def counts(count: _Count) -> dict[str, int]:
        output = 0 if failed else count.exportable
        return {
            "inputRecordCount": count.input,
            "outputRecordCount": output,
            "createdRecordCount": output,
            "skippedRecordCount": count.skipped,
            "failedRecordCount": count.exportable if failed else 0,
        }

    entities = [
        {"id": f"segment:{audience_id}", **counts(count)}
        for audience_id, count in tally.audiences.items()
    ]
    total = counts(tally.total)
    skipped = tally.total.skipped
    sources = list(flow.get("sourceConnectionIds") or [])[:1]
    return {
        **total,
        "updatedRecordCount": 0,
        "deletedRecordCount": 0,
        "failedInfo": [{k: e[k] for k in ("code", "message", "count")} for e in errors],
        "skippedInfo": [_skipped_info(skipped)] if skipped else [],
        "sourceSummaries": [
            {"id": source, **total, "entitySummaries": copy.deepcopy(entities)}
            for source in sources
        ],
        "targetSummaries": [
            {"id": target, **total, "entitySummaries": copy.deepcopy(entities)}
            for target in flow.get("targetConnectionIds") or []
        ],
    }


def _skipped_info(count: int) -> dict[str, Any]:
    # The code of the documented run examples: no streaming run's skip code is published.
    message = "Profiles hold none of the mapped attributes."
    return {"code": SKIP_CODE, "message": message, "count": count}


def _flow_ids(filters: Iterable[str]) -> frozenset[str] | None:
    """The dataflow ids a `flowId==A[,B]` filter names; None without one."""
    for text in filters:
        parsed = parse_filter(text)
        if parsed.steps == (("flowId", False),) and parsed.op == "==":
            return frozenset(parsed.values)
    return None
