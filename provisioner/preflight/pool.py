"""Checks run several at once, each within its own timeout, whatever the others do.

A check's clock starts when it starts, not when it is queued. Checks start in order, so a
check waited for has always started once those before it are over. A check that outlives
its timeout is reported as such and left behind: its thread is a daemon (an SDK call stuck
past its own timeouts cannot hold the command's exit), and a new worker takes its place
so the rest still run as many at once. An exception a check raises (a bug: checks turn
every answer of a destination into a finding) is raised again here, in the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from provisioner.preflight.model import Deadline, Finding

Check = Callable[[Deadline], Finding]
GRACE = 2.0  # seconds past the deadline a check has to return what its SDK said at the end


class _Job:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.done = threading.Event()
        self.began = 0.0
        self.finding: Finding | None = None
        self.error: BaseException | None = None
        self.abandoned = False


class Pool:
    def __init__(self, checks: Sequence[Check], timeout: float, workers: int) -> None:
        self._checks = list(checks)
        self._timeout = timeout
        self._workers = max(1, min(workers, len(self._checks)))
        self._jobs = [_Job() for _ in self._checks]
        self._lock = threading.Lock()
        self._next = 0

    def run(self) -> list[Finding]:
        """Each check's finding, in the order of the checks."""
        for _ in range(self._workers if self._checks else 0):
            self._spawn()
        return [self._outcome(index) for index in range(len(self._checks))]

    def _spawn(self) -> None:
        threading.Thread(target=self._work, name="provisioner-check", daemon=True).start()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self._checks):
                return None
            self._next += 1
            return self._next - 1

    def _work(self) -> None:
        while (index := self._take()) is not None:
            job = self._jobs[index]
            job.began = time.monotonic()
            job.started.set()
            try:
                job.finding = self._checks[index](Deadline(job.began + self._timeout))
            except BaseException as error:  # raised again in the caller's thread
                job.error = error
            with self._lock:
                job.done.set()
                if job.abandoned:
                    return  # its replacement works on; this thread ends

    def _outcome(self, index: int) -> Finding:
        job = self._jobs[index]
        job.started.wait()
        left = job.began + self._timeout + GRACE - time.monotonic()
        if not job.done.wait(max(left, 0)):
            with self._lock:
                if not job.done.is_set():
                    job.abandoned = True
            if job.abandoned:
                self._spawn()
                return Finding.unreachable(f"no answer within {self._timeout:g}s (--timeout)")
        if job.error is not None:
            raise job.error
        assert job.finding is not None
        return job.finding


def run_checks(checks: Sequence[Check], timeout: float, workers: int) -> list[Finding]:
    """Run `checks`, `workers` at once, each given `timeout` seconds from its start."""
    return Pool(checks, timeout, workers).run()
