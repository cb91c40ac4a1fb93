"""Benchmark: how long `provisioner <command> --help` takes, as a whole process.

For the bare group and every command, the median of `--runs` runs of
`python -m provisioner <command> --help` (and of the installed `provisioner` console script,
when the environment has one), measured from the process's start to its exit: the
interpreter's own start-up is part of what a user waits for. The package's bytecode is
compiled first, as installing it does. Each row says whether the
median meets the goal.

    python benchmarks/help.py [--runs 5] [--goal 0.15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.children import as_installed, compile_package  # noqa: E402

COMMANDS = (
    "",
    "validate",
    "schema",
    "plan",
    "apply",
    "destroy",
    "import",
    "status",
    "check",
    "comment",
    "show",
    "emulator",
)


def median_seconds(argv: Sequence[str], runs: int) -> float:
    """The median wall time of `runs` runs of `argv`; a run that fails stops the benchmark."""
    times = []
    env = {**as_installed(os.environ), "COLUMNS": "100"}
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr!r}")
    return statistics.median(times)


def launchers() -> dict[str, list[str]]:
    """How the CLI is started: the module always; the console script beside this Python."""
    found = {"python -m provisioner": [sys.executable, "-m", "provisioner"]}
    script = Path(sys.executable).parent / "provisioner"
    if script.is_file():
        found["provisioner"] = [str(script)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--goal", type=float, default=0.15, help="seconds")
    args = parser.parse_args()
    compile_package()
    print(f"median of {args.runs} runs of `<launcher> <command> --help`; goal {args.goal:.2f} s")
    print(f"{'launcher':<22} {'command':<10} {'median s':>9}  goal")
    missed = 0
    for launcher, argv in launchers().items():
        for command in COMMANDS:
            words = [command] if command else []
            seconds = median_seconds([*argv, *words, "--help"], args.runs)
            met = seconds <= args.goal
            missed += 0 if met else 1
            verdict = "met" if met else "not met"
            print(f"{launcher:<22} {command or '(group)':<10} {seconds:>9.3f}  {verdict}")
    print(f"{missed} row(s) over the goal")


if __name__ == "__main__":
    main()
