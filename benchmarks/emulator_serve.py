"""Benchmark: how fast `provisioner emulator serve` starts, and whether it slows with size.

Starts the real command on a loopback port, measures the time to its first answered
request, then fills it with flows through the API and times reads (a GET by id, a page of
100, a filtered lookup of 50 ids) at 100 and at 1,000 flows.

    python benchmarks/emulator_serve.py [--flows 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulator_support import Api, Chain, flow_body, start_serve_process  # noqa: E402


def start_server(db: Path) -> tuple[subprocess.Popen[str], str, float]:
    started = time.perf_counter()
    process, url = start_serve_process("--db", str(db))
    return process, url, time.perf_counter() - started


def median_ms(action: Callable[[], object], repeat: int = 30) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(api: Api, ids: list[str]) -> dict[str, float]:
    probe = ids[len(ids) // 2]
    batch = ",".join(ids[:50])
    return {
        "GET /flows/{id}": median_ms(lambda: api.get(f"/flows/{probe}")),
        "GET /flows?limit=100": median_ms(lambda: api.get("/flows", params={"limit": 100})),
        "GET /flows?property=id==<50 ids>": median_ms(
            lambda: api.get("/flows", params={"property": f"id=={batch}", "limit": 100})
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, url, startup = start_server(Path(folder) / "bench.db")
        try:
            print(f"startup to first answered request: {startup * 1000:.0f} ms")
            with httpx.Client(base_url=url) as client:
                api = Api(client)
                chain = Chain(api)
                ids = [chain.flow]
                results = {}
                for size in (100, args.flows):
                    while len(ids) < size:
                        ids.append(
                            api.created(
                                "/flows", flow_body(chain.source, chain.target, f"bench-{len(ids)}")
                            )
                        )
                    results[size] = measure(api, ids)
            print(f"{'median per request':34} {'100 flows':>10} {args.flows:>6} flows")
            for name in results[100]:
                small, large = results[100][name], results[args.flows][name]
                print(f"{name:34} {small:8.2f} ms {large:8.2f} ms")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
