"""Benchmark: does installing the `check` extra (boto3, azure-eventhub) slow anything else?

Only `provisioner check` (and `emulator serve --deliver`) import the cloud SDKs, so the
other commands should start and run as fast with the extra as without. Each command runs
as a whole process, the median of `--runs` runs, twice: with the SDKs importable (as
installed here), and with them hidden by a meta-path finder that makes every import of
boto3, botocore or azure fail, which is what a machine without the extra sees. Both
variants start the same way (`python -c`, running the CLI's `__main__`), so the finder is
the only difference.

Commands: `provisioner --help`, `plan --help`, and a no-op `plan --emulator
--detailed-exitcode` of the emulator's demo (the example manifests, applied once to the
embedded emulator in a temporary folder), or of a fleet of `--flows N` seeded dataflows.
Then a report, without judging it, of which SDK modules are in `sys.modules` after a plan
has run in-process.

    python benchmarks/extras.py [--runs 5] [--flows N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.children import as_installed, compile_package  # noqa: E402

SDK_ROOTS = ("boto3", "botocore", "azure")
# Makes the SDKs impossible to import, as when the extra is not installed (ModuleNotFoundError
# naming the module, as Python raises it).
HIDE_SDKS = f"""
import sys
class _HiddenSdks:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {SDK_ROOTS!r}:
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
        return None
sys.meta_path.insert(0, _HiddenSdks())
"""
RUN_CLI = """
import runpy, sys
sys.argv = ['provisioner', *sys.argv[1:]]
runpy.run_module('provisioner', run_name='__main__', alter_sys=True)
"""
# A plan in-process, then the SDK modules it left loaded.
LOADED_AFTER_PLAN = """
import sys
from provisioner.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
roots = {roots!r}
loaded = sorted(m for m in sys.modules if m.split('.')[0] in roots)
print('exit', code, 'loaded', len(loaded), ' '.join(loaded[:5]))
"""
DEMO_ENV = {
    "KINESIS_ACCESS_KEY_ID": "demo-access-key-id",
    "KINESIS_SECRET_KEY": "demo-secret-key",
    "EVENTHUB_SAS_KEY_NAME": "demo-send-policy",
    "EVENTHUB_SAS_KEY": "demo-sas-key",
    "MARKETING_KINESIS_ACCESS_KEY_ID": "demo-marketing-key-id",
    "MARKETING_KINESIS_SECRET_KEY": "demo-marketing-secret",
    "PERSONALISATION_SAS_KEY_NAME": "demo-personalisation-policy",
}


def child(hidden: bool, args: Sequence[str]) -> list[str]:
    """The command line of the CLI with `args`, the SDKs hidden or not."""
    code = (HIDE_SDKS if hidden else "") + RUN_CLI
    return [sys.executable, "-c", code, *args]


def seconds(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """The wall time of one run; a run with an unexpected exit stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, cwd=cwd, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[3:]} exited {done.returncode}: {done.stderr[-2000:]!r}")
    return elapsed


def medians(args: Sequence[str], runs: int, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """The median seconds with the SDKs importable and hidden; the two alternate run by run,
    so that a machine growing busier or quieter weighs on both alike."""
    shown, hidden = [], []
    for _ in range(runs):
        shown.append(seconds(child(False, args), cwd, env))
        hidden.append(seconds(child(True, args), cwd, env))
    return statistics.median(shown), statistics.median(hidden)


def demo(folder: Path, env: dict[str, str]) -> list[str]:
    """The example manifests applied to the embedded emulator in `folder`; the plan's args."""
    shutil.copytree(ROOT / "examples" / "destinations", folder / "destinations")
    shutil.copy(ROOT / "examples" / "audiences.yaml", folder / "audiences.yaml")
    secrets = folder / "destinations" / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "personalisation-sas-key").write_text("demo-personalisation-sas-key\n")
    setup = (
        ["emulator", "audiences", "seed", "audiences.yaml"],
        ["apply", "--emulator", "--auto-approve", "destinations"],
    )
    for args in setup:
        done = subprocess.run(child(False, args), cwd=folder, env=env, capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"{args} exited {done.returncode}: {done.stderr[-2000:]!r}")
    return ["plan", "--emulator", "--detailed-exitcode", "destinations"]


def fleet(folder: Path, flows: int) -> list[str]:
    """`flows` managed dataflows seeded into the embedded emulator in `folder`."""
    from provisioner.connect import EMULATOR_FILE
    from provisioner.emulator.store import Store
    from tests.fleet import seed_fleet, write_fleet

    manifests = write_fleet(folder, flows)
    store = Store(folder / EMULATOR_FILE)
    try:
        seed_fleet(store, manifests)
    finally:
        store.close()
    return ["plan", "--emulator", "--detailed-exitcode", str(manifests)]


def measure(commands: dict[str, list[str]], runs: int, cwd: Path, env: dict[str, str]) -> None:
    print(f"median of {runs} runs, seconds (whole process)\n")
    print(f"| {'command':<28} | extra importable | extra hidden | difference       |")
    print(f"| {'-' * 28} | ---------------: | -----------: | ---------------: |")
    for name, args in commands.items():
        shown, hidden = medians(args, runs, cwd, env)
        difference = f"{shown - hidden:+.3f} ({(shown - hidden) / hidden:+.1%})"
        print(f"| {name:<28} | {shown:16.3f} | {hidden:12.3f} | {difference:>16} |")


def hiding_works(cwd: Path, env: dict[str, str]) -> str:
    """Whether the hidden variant really cannot import an SDK (else the table means nothing)."""
    code = HIDE_SDKS + "import boto3\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    return "yes" if "ModuleNotFoundError" in done.stderr else f"NO (exit {done.returncode})"


def loaded_after_plan(plan: list[str], cwd: Path, env: dict[str, str]) -> None:
    code = LOADED_AFTER_PLAN.format(roots=SDK_ROOTS)
    done = subprocess.run(
        [sys.executable, "-c", code, *plan], cwd=cwd, env=env, capture_output=True, text=True
    )
    said = done.stdout.strip().splitlines()[-1:] or [done.stderr[-500:]]
    print(f"\nSDK modules ({', '.join(SDK_ROOTS)}) in sys.modules after a plan: {said[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flows", type=int, default=0, help="a fleet instead of the demo")
    args = parser.parse_args()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AEP_") and k != "CI"}
    compile_package()
    env = {
        **as_installed(inherited),
        **DEMO_ENV,
        "COLUMNS": "100",
        "PYTHONPATH": str(ROOT),
    }
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if args.flows:
            from tests.fleet import FLEET_ENV

            env.update(FLEET_ENV)
            plan, label = fleet(folder, args.flows), f"no-op plan, {args.flows} dataflows"
        else:
            plan, label = demo(folder, env), "no-op plan of the demo"
        commands = {"--help": ["--help"], "plan --help": ["plan", "--help"], label: plan}
        print(f"with the SDKs hidden, `import boto3` fails: {hiding_works(folder, env)}\n")
        measure(commands, args.runs, folder, env)
        loaded_after_plan(plan, folder, env)


if __name__ == "__main__":
    main()
