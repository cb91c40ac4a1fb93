"""Benchmark: loading and checking N manifests (`load_and_check`, as `validate` does).

Writes N realistic manifests (comments, 20 audiences, 6 attributes each) into a temporary
folder, one file each (or all in one file as YAML documents with `--one-file`), then times
`load_and_check` over them and prints documents per second, the best of `--repeat` runs,
and the peak memory the load allocated (measured in a separate run under tracemalloc, which
slows it down).

    python benchmarks/parse_manifests.py [--manifests 1000] [--repeat 3] [--one-file]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.manifest import load_and_check  # noqa: E402
from provisioner.manifest.yamlread import parser_kind  # noqa: E402


def manifest_text(index: int) -> str:
    audiences = "".join(
        f"  - id: {uuid.uuid5(uuid.NAMESPACE_URL, f'aud-{index}-{j}')}\n"
        f"    name: Audience {j} of flow {index}\n"
        f'    description: "Members of segment {j}"\n'
        for j in range(20)
    )
    attributes = "".join(f"  - person.field{k}.value\n" for k in range(6))
    return (
        "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"
        f"# Dataflow {index}: audiences of one campaign streamed to Kinesis.\n"
        f"version: 1\nname: bench-flow-{index:05d}\n"
        f"description: Benchmark dataflow number {index}\nenabled: true\n"
        "destination:\n  type: amazon-kinesis\n"
        f"  account: bench-account-{index // 10:04d}\n  region: us-east-1\n"
        f"  stream: stream-{index:05d}   # the existing stream\n"
        "  credentials:\n    accessKeyId: ${env:BENCH_KEY_ID}\n"
        "    secretKey: ${env:BENCH_SECRET}\n"
        f"audiences:\n{audiences}attributes:\n{attributes}"
    )


def write_manifests(folder: Path, count: int, one_file: bool) -> None:
    if one_file:
        texts = (manifest_text(i) for i in range(count))
        (folder / "all.yaml").write_text("---\n".join(texts), encoding="utf-8")
        return
    for i in range(count):
        (folder / f"flow-{i:05d}.yaml").write_text(manifest_text(i), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one-file", action="store_true", help="all manifests in one file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        write_manifests(work, args.manifests, args.one_file)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = load_and_check([work])
            best = min(best, time.perf_counter() - started)
            assert len(result.manifests) == args.manifests and not result.errors, result.errors
        tracemalloc.start()
        load_and_check([work])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    layout = "one file" if args.one_file else "one file each"
    print(f"parser: {parser_kind()}; {args.manifests} manifests ({layout})")
    print(f"load_and_check: {best:.3f} s (best of {args.repeat})")
    print(f"documents/s: {args.manifests / best:,.0f} ({best / args.manifests * 1000:.3f} ms each)")
    print(f"peak memory of one load: {peak / 2**20:.1f} MiB; process max RSS {max_rss:.0f} MiB")


if __name__ == "__main__":
    main()
