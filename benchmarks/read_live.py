"""Benchmark: read N dataflows with their connections from the emulator served on loopback.

Seeds N whole destination chains (account, target connection, flow) into an emulator file,
serves it with `provisioner emulator serve --latency-ms L` in its own process, then reads
the live state with the platform client and prints the requests, wall time and peak memory.

    python benchmarks/read_live.py [--flows 1000] [--latency-ms 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.emulator.store import Store  # noqa: E402
from provisioner.platform.client import ClientOptions, PlatformClient  # noqa: E402
from provisioner.state.live import read_live  # noqa: E402
from tests.emulator_support import (  # noqa: E402
    platform_target,
    seed_destinations,
    start_serve_process,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        store = Store(db)
        seed_destinations(store, args.flows)
        store.close()
        process, url = start_serve_process("--db", str(db), "--latency-ms", str(args.latency_ms))
        try:
            target = platform_target(url)
            tracemalloc.start()
            started = time.perf_counter()
            options = ClientOptions(concurrency=args.concurrency)
            with PlatformClient(target, options) as client:
                live = read_live(client)
                requests = client.request_count
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            process.terminate()
            process.wait(timeout=10)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"dataflows read:       {len(live.flows)} (targets {len(live.targets)}, "
        f"connections {len(live.connections)}, sources {len(live.sources)})"
    )
    print(f"requests:             {requests} (token included)")
    print(f"wall time:            {elapsed:.2f} s at {args.latency_ms:.0f} ms latency per request")
    print(f"peak traced memory:   {peak / 2**20:.1f} MiB (process max RSS {rss_mb:.0f} MiB)")


if __name__ == "__main__":
    main()
