"""What a storm of 429s costs at best: a simulation, not a measurement of the tool.

The model is as kind to a client as one can be while it honours `Retry-After`: the limit on
requests in flight is never cut, any number of dataflows may wait at once, no CPU is spent,
a refused request is sent again exactly `Retry-After` seconds after its answer, and every
request spends the same time in flight. A plan's reads (the audience checks, one request
each, and the paged lists, a chain of pages each) come first, then every dataflow's PATCH
and read-back, one after the other. It prints the calm time, the storm's (median over
seeds) and their ratio: the floor any client meets on the fleet benchmark's storm.

    python benchmarks/storm_bound.py [--flows 1000] [--rate 0.3] [--requests-per-dataflow 2]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    slots: int = 24  # requests in flight
    in_flight: float = 0.065  # seconds a request spends in flight (50 ms latency and serving)
    retry_after: float = 1.0
    rate: float = 0.3  # the share of attempts refused with 429
    flows: int = 1000
    steps: int = 2  # requests per dataflow, one after the other
    plan_chains: tuple[int, ...] = (1,) * 50 + (5,) * 6  # audience reads; lists of 5 pages


def finish(chains: list[int], start: float, model: Model, refused: random.Random) -> float:
    """When the last of `chains` (each a number of requests sent one after the other) ends,
    all of them ready at `start`, sharing `model.slots`."""
    free = [start] * model.slots
    ready = [(start, i) for i in range(len(chains))]
    heapq.heapify(ready)
    remaining, end = list(chains), start
    while ready:
        at, chain = heapq.heappop(ready)
        done = max(at, heapq.heappop(free)) + model.in_flight
        heapq.heappush(free, done)
        if refused.random() < model.rate:
            heapq.heappush(ready, (done + model.retry_after, chain))
            continue
        remaining[chain] -= 1
        if remaining[chain]:
            heapq.heappush(ready, (done, chain))
        else:
            end = max(end, done)
    return end


def apply_time(model: Model, seed: int) -> float:
    refused = random.Random(seed)
    planned = finish(list(model.plan_chains), 0.0, model, refused)
    return finish([model.steps] * model.flows, planned, model, refused)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--requests-per-dataflow", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=25)
    args = parser.parse_args()
    storm = Model(rate=args.rate, flows=args.flows, steps=args.requests_per_dataflow)
    calm = apply_time(Model(rate=0.0, flows=args.flows, steps=storm.steps), 0)
    stormy = statistics.median(apply_time(storm, seed) for seed in range(args.seeds))
    print(
        f"{storm.flows} dataflows, {storm.steps} request(s) each, {storm.slots} in flight, "
        f"{storm.rate:.0%} refused with Retry-After: {storm.retry_after:g}"
    )
    print(f"calm {calm:.1f} s; storm {stormy:.1f} s (median of {args.seeds}); {stormy / calm:.2f}x")


if __name__ == "__main__":
    main()
