"""The fleet benchmark's bench: the fleet served by the emulator in its own process, and each
step measured as a child process running the real command (wall time, the requests the
emulator answered and how many were in flight, peak memory, CPU time)."""

from __future__ import annotations

import os
import re
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.children import ChildRun, as_installed, cli_command, compile_package, run_child
from benchmarks.fleet_manifests import write_manifests
from benchmarks.fleet_options import Options
from benchmarks.raw_reads import api_headers, list_all
from provisioner.emulator.catalog import EVENT_HUBS_SPEC_ID, KINESIS_SPEC_ID
from provisioner.emulator.store import Store
from provisioner.platform.ids import FLOW_SERVICE_PATH
from tests.emulator_support import ADMIN_AUTH, get_token, platform_target, start_serve_process
from tests.fleet import FLEET_ENV, seed_fleet

# The per-object script is benchmarks/fleet.py itself, run with --baseline-of URL.
FLEET_SCRIPT = Path(__file__).resolve().with_name("fleet.py")


@dataclass
class Step:
    name: str
    wall: float
    requests: int
    dataflows: int  # read (plan, baseline) or changed (apply); 0: not applicable
    request_seconds: float
    peak_mib: float
    cpu: float
    code: int | None
    note: str = ""
    object_requests: int = 0  # requests about one object (/flows/ID…), not lists

    @property
    def per_dataflow(self) -> float | None:
        """Requests per dataflow: for an apply, those about one object (a run's shared
        reads, the lists and the audience lookups, are not any dataflow's)."""
        if not self.dataflows:
            return None
        spent = self.object_requests if self.name.startswith("apply") else self.requests
        return spent / self.dataflows

    @property
    def in_flight(self) -> float:
        return self.request_seconds / self.wall if self.wall > 0 else 0.0


@dataclass(frozen=True)
class LiveCounts:
    """What the sandbox holds; everything in it is the fleet's."""

    flows: int
    flow_names: int  # distinct names
    targets: int
    accounts: int


class Bench:
    """The served emulator, the manifests and the environment the CLI runs in."""

    def __init__(self, work: Path, url: str, options: Options) -> None:
        self.work = work
        self.url = url
        self.options = options
        self.manifests = work / "manifests"
        self.admin = httpx.Client(base_url=url, timeout=60, auth=ADMIN_AUTH)
        self.token = get_token(self.admin).json()["access_token"]
        target = platform_target(url)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AEP_") and k != "CI"}
        self.env = {
            **as_installed(inherited),
            **FLEET_ENV,
            "AEP_PLATFORM_URL": url,
            "AEP_IMS_URL": url,
            "AEP_CLIENT_ID": target.client_id or "",
            "AEP_CLIENT_SECRET": target.client_secret or "",
            "AEP_ORG_ID": target.org,
        }
        self._runs = 0

    def close(self) -> None:
        self.admin.close()

    def faults(self, **changes: Any) -> None:
        self.admin.put("/emulator/faults", json=changes).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.admin.get("/emulator/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def child(self, command: Sequence[str], env: dict[str, str] | None = None) -> ChildRun:
        """A child in a fresh working folder with a fresh cache folder: nothing warm."""
        self._runs += 1
        cwd = self.work / f"run-{self._runs:02d}"
        (cwd / "cache").mkdir(parents=True)
        merged = {**(env or self.env), "XDG_CACHE_HOME": str(cwd / "cache")}
        return run_child(command, merged, cwd, self.options.timeout)

    def measure(
        self,
        name: str,
        command: Sequence[str],
        dataflows: Callable[[ChildRun], int],
        env: dict[str, str] | None = None,
    ) -> Step:
        self.admin.post("/emulator/stats/reset").raise_for_status()
        run = self.child(command, env)
        stats = self.stats()
        note = "" if run.code is not None else f"killed after {self.options.timeout:.0f} s"
        if run.code not in (0, None) and not note:
            lines = (run.stdout + run.stderr).strip().splitlines()
            note = f"exit {run.code}: {lines[-1] if lines else ''}"[:120]
        return Step(
            name=name,
            wall=run.wall,
            requests=int(stats["requests"].get("total", 0)),
            object_requests=int(stats["requests"].get("one object", 0)),
            dataflows=dataflows(run),
            request_seconds=float(stats["in_flight"]["request_seconds"]),
            peak_mib=run.peak_mib,
            cpu=run.cpu,
            code=run.code,
            note=note,
        )

    def plan(self, name: str = "plan (no-op)") -> Step:
        command = [*cli_command(), "plan", "--detailed-exitcode", str(self.manifests)]
        step = self.measure(name, command, lambda _: self.options.flows)
        if step.code == 2 and not step.note:
            step.note = "changes pending: not a no-op"
        return step

    def baseline(self) -> Step:
        command = [sys.executable, str(FLEET_SCRIPT), "--baseline-of", self.url]
        env = {**self.env, "BENCH_TOKEN": self.token}  # a script has its token already
        return self.measure("baseline (per object)", command, _read_count, env)

    def apply(self, name: str) -> Step:
        command = [*cli_command(), "apply", "--auto-approve", str(self.manifests)]
        return self.measure(name, command, _changed_count)

    def help(self) -> Step:
        runs = [self.child([*cli_command(), "--help"]) for _ in range(self.options.help_runs)]
        failed = [r for r in runs if r.code != 0]
        return Step(
            name=f"--help (median of {len(runs)})",
            wall=statistics.median(r.wall for r in runs),
            requests=0,
            dataflows=0,
            request_seconds=0.0,
            peak_mib=max(r.peak_mib for r in runs),
            cpu=statistics.median(r.cpu for r in runs),
            code=failed[0].code if failed else 0,
        )

    def live_counts(self) -> LiveCounts:
        """Every dataflow, target connection and destination account in the sandbox."""
        headers = api_headers(self.token)
        with httpx.Client(base_url=self.url + FLOW_SERVICE_PATH, headers=headers) as client:
            flows = list_all(client, "/flows")
            targets = list_all(client, "/targetConnections")
            connections = list_all(client, "/connections")
        destination_specs = {KINESIS_SPEC_ID, EVENT_HUBS_SPEC_ID}
        return LiveCounts(
            flows=len(flows),
            flow_names=len({f["name"] for f in flows}),
            targets=len(targets),
            accounts=sum(c["connectionSpec"]["id"] in destination_specs for c in connections),
        )


def _read_count(run: ChildRun) -> int:
    match = re.search(r"read (\d+) dataflows", run.stdout)
    return int(match.group(1)) if match else 0


def _changed_count(run: ChildRun) -> int:
    match = re.search(r"Plan: (\d+) to create, (\d+) to update, (\d+) to replace", run.stdout)
    return sum(int(n) for n in match.groups()) if match else 0


@contextmanager
def served_fleet(work: Path, options: Options) -> Iterator[Bench]:
    """The emulator served in its own process with the seeded fleet, and its manifests."""
    compile_package()
    write_manifests(work / "manifests", options)
    store = Store(work / "emulator.db")
    seed_fleet(store, work / "manifests")
    store.close()
    server, url = start_serve_process(
        "--db", str(work / "emulator.db"), "--latency-ms", str(options.latency_ms)
    )
    bench = Bench(work, url, options)
    # A platform is warm: the emulator's cold start (its first reads of the database) is
    # paid here, untimed, not by whichever step happens to come first.
    bench.live_counts()
    try:
        yield bench
    finally:
        bench.close()
        server.terminate()
        server.wait(timeout=10)
