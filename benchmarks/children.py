"""Running a benchmark's command in a child process: its wall time, peak memory, CPU time."""

from __future__ import annotations

import compileall
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildRun:
    code: int | None  # None: killed at the timeout
    wall: float
    peak_mib: float
    cpu: float
    stdout: str
    stderr: str


# Runs argv[2:] and writes its exit code, wall time, peak RSS and CPU time to argv[1]. A
# child's ru_maxrss starts from the memory of the process that forked it, so the benchmark,
# holding the seeded fleet, forks this small interpreter, which forks the command.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as out:
    code = os.waitstatus_to_exitcode(status)
    out.write(f"{code} {wall} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux


def run_child(command: Sequence[str], env: dict[str, str], cwd: Path, timeout: float) -> ChildRun:
    """Runs `command` in `cwd`; its own wall time, peak memory and CPU time (wait4)."""
    paths = {name: cwd / f"{name}.txt" for name in ("stdout", "stderr", "usage")}
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(paths["usage"]), *command]
    with paths["stdout"].open("wb") as out, paths["stderr"].open("wb") as err:
        process = subprocess.Popen(
            launcher, env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and the command
            process.wait()
    output = {name: paths[name].read_text(errors="replace") for name in ("stdout", "stderr")}
    if not paths["usage"].exists():
        return ChildRun(None, timeout, 0.0, 0.0, output["stdout"], output["stderr"])
    code, wall, maxrss, cpu = paths["usage"].read_text().split()
    return ChildRun(
        code=int(code),
        wall=float(wall),
        peak_mib=int(maxrss) * _MAXRSS_UNIT / 2**20,
        cpu=float(cpu),
        stdout=output["stdout"],
        stderr=output["stderr"],
    )


def cli_command() -> list[str]:
    """The installed `provisioner` command if there is one, as users start it."""
    script = Path(sys.executable).parent / "provisioner"
    return [str(script)] if script.exists() else [sys.executable, "-m", "provisioner"]


PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"


def as_installed(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a command started as an installed tool starts: with the package's bytecode
    compiled (as `pip install` leaves it) and read from its cache. A shell that sets
    PYTHONDONTWRITEBYTECODE or PYTHONPYCACHEPREFIX would otherwise have every run compile
    the whole package from source again, a cost no user of an installed tool pays."""
    dropped = {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}
    return {key: value for key, value in env.items() if key not in dropped}


def compile_package() -> None:
    """The package's bytecode beside its sources (`__pycache__`, ignored by git), so the
    first measured run starts as warm as the others."""
    prefix, sys.pycache_prefix = sys.pycache_prefix, None  # where `as_installed` reads
    try:
        compileall.compile_dir(PACKAGE, quiet=1)
    finally:
        sys.pycache_prefix = prefix
