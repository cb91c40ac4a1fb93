"""Benchmark: a no-op `provisioner plan --detailed-exitcode` of N dataflows.

Seeds N managed dataflows (as apply would have made them) into an emulator file, serves it
with `provisioner emulator serve --latency-ms L` in its own process, then runs the real
`provisioner plan` command against it and prints its exit code, the requests the emulator
answered, the wall time and the plan process's peak memory.

    python benchmarks/plan_noop.py [--flows 1000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.emulator.store import Store  # noqa: E402
from tests.emulator_support import (  # noqa: E402
    ADMIN_AUTH,
    platform_target,
    start_serve_process,
)
from tests.fleet import FLEET_ENV, seed_fleet, write_fleet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        manifests = write_fleet(work, args.flows)
        store = Store(work / "bench.db")
        seed_fleet(store, manifests)
        store.close()
        server, url = start_serve_process(
            "--db", str(work / "bench.db"), "--latency-ms", str(args.latency_ms)
        )
        try:
            target = platform_target(url)
            env = {
                **os.environ,
                **FLEET_ENV,
                "AEP_PLATFORM_URL": url,
                "AEP_IMS_URL": url,
                "AEP_CLIENT_ID": target.client_id,
                "AEP_CLIENT_SECRET": target.client_secret,
                "AEP_ORG_ID": target.org,
            }
            httpx.post(f"{url}/emulator/stats/reset", auth=ADMIN_AUTH)
            started = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "provisioner",
                    "plan",
                    "--detailed-exitcode",
                    str(manifests),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            requests = httpx.get(f"{url}/emulator/stats", auth=ADMIN_AUTH).json()["requests"]
        finally:
            server.terminate()
            server.wait(timeout=10)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"dataflows:            {args.flows}")
    print(f"exit code:            {result.returncode} ({result.stdout.strip().splitlines()[-1]})")
    print(f"requests:             {requests.get('total', 0)} ({requests})")
    print(
        f"wall time:            {elapsed:.2f} s (process start, manifests, reads, diff) at "
        f"{args.latency_ms:.0f} ms per request"
    )
    print(f"peak memory:          {peak_mb:.0f} MiB (largest child process, max RSS)")


if __name__ == "__main__":
    main()
