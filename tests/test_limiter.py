"""The run's shared limit on requests in flight: cut on 429 and server errors, grown back by
successes, and a Retry-After that every thread keeps. Time is a fake clock: no test waits."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from provisioner.apply.run import Applier
from provisioner.cli.planning import Scope, load_manifests, plan_for
from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.limiter import Paused, RequestLimiter, Slot
from tests.emulator_support import platform_target
from tests.test_flow_action import EMULATOR_URL, write_flows
from tests.workspace import SECRETS


class FakeTime:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0.0
        self.sleeps: list[tuple[int, float]] = []  # (thread id, seconds)

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.sleeps.append((threading.get_ident(), seconds))
        time.sleep(0)  # let the other threads run, as a real sleep would


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


# the limiter alone ---------------------------------------------------------------------


def test_an_overload_cuts_the_limit_once_per_round_down_to_half_the_ceiling() -> None:
    limiter = RequestLimiter(16)
    sent_together = [limiter.acquire(1.0) for _ in range(4)]
    limiter.observe(429, None, sent_together[0])
    assert limiter.limit == 12
    # The other answers to that burst tell nothing new: the cut already answered them.
    limiter.observe(503, None, sent_together[1])
    limiter.observe(500, None, sent_together[2])
    assert limiter.limit == 12
    for slot in sent_together:
        limiter.release(slot)
    for _ in range(5):
        after_the_cut = limiter.acquire(1.0)
        limiter.observe(502, None, after_the_cut)
        limiter.release(after_the_cut)
    assert list(limiter.history) == [16, 12, 9, 8]  # never below half of --concurrency


def test_a_429_that_says_when_eases_off_gently_down_to_three_quarters() -> None:
    """A Retry-After is a platform metering requests: the refused request waits it, and the
    rest ease off by an eighth a round; a server error still cuts deep."""
    limiter = RequestLimiter(16)
    for _ in range(4):
        slot = limiter.acquire(1.0)
        limiter.observe(429, 1.0, slot)
        limiter.release(slot)
    assert list(limiter.history) == [16, 14, 12]  # never below three quarters
    slot = limiter.acquire(1.0)
    limiter.observe(503, 1.0, slot)
    limiter.release(slot)
    assert limiter.limit == 9  # a platform failing under load: a quarter, toward half
    slot = limiter.acquire(1.0)
    limiter.observe(429, 1.0, slot)
    limiter.release(slot)
    assert limiter.limit == 9  # metering never raises what a failure cut


def test_successes_grow_the_limit_back_to_the_ceiling_one_at_a_time() -> None:
    limiter = RequestLimiter(16)
    for _ in range(3):
        slot = limiter.acquire(1.0)
        limiter.observe(429, None, slot)
        limiter.release(slot)
    assert limiter.limit == 8
    grown = []
    for _ in range(60):
        slot = limiter.acquire(1.0)
        limiter.observe(200, None, slot)
        limiter.release(slot)
        grown.append(limiter.limit)
    # After as many successes in a row as half the limit, one more; never past the ceiling.
    assert grown[2] == 8 and grown[3] == 9 and grown[7] == 10
    assert grown[-1] == 16 and max(grown) == 16
    assert limiter.in_flight == 0


def test_a_failure_restarts_the_run_of_successes() -> None:
    limiter = RequestLimiter(16)
    limiter.observe(429, None, limiter.acquire(1.0))
    assert limiter.limit == 12
    for _ in range(5):
        limiter.observe(200, None, None)
    limiter.observe(429, None, Slot(0))  # an answer to a request sent before the cut
    for _ in range(5):
        limiter.observe(200, None, None)
    assert limiter.limit == 12  # 5 successes since the failure, 6 needed
    limiter.observe(200, None, None)
    assert limiter.limit == 13


def test_a_short_retry_after_holds_only_its_own_request() -> None:
    fake = FakeTime()
    limiter = RequestLimiter(8, fake.clock, fake.sleep)
    slot = limiter.acquire(10.0, who="a")
    limiter.observe(429, 1.0, slot, who="a")
    limiter.release(slot)
    limiter.acquire(10.0, who="b")  # another thread goes on at once
    assert fake.sleeps == [] and fake.now == 0.0


def test_a_retry_after_pauses_every_caller_but_the_one_that_got_it() -> None:
    fake = FakeTime()
    limiter = RequestLimiter(8, fake.clock, fake.sleep)
    got_429, others = object(), [object() for _ in range(5)]
    slot = limiter.acquire(10.0, who=got_429)
    limiter.observe(429, 10.0, slot, who=got_429)
    limiter.release(slot)
    slots = []

    def take(who: object) -> None:
        slots.append(limiter.acquire(10.0, who=who))
        limiter.release(slots[-1])

    threads = [threading.Thread(target=take, args=(who,)) for who in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(slots) == 5 and fake.now >= 10.0
    assert len({ident for ident, _ in fake.sleeps}) >= 1
    # The caller that got the 429 backs off by itself (its retry policy honours the
    # Retry-After): the limiter does not make it wait twice.
    waited = len(fake.sleeps)
    limiter.acquire(10.0, who=got_429)
    assert len(fake.sleeps) == waited


def test_every_other_thread_waits_out_the_pause_before_its_first_request() -> None:
    fake = FakeTime()
    limiter = RequestLimiter(8, fake.clock, fake.sleep)
    slot = limiter.acquire(10.0, who="a")
    limiter.observe(429, 10.0, slot, who="a")
    limiter.release(slot)
    started = [0.0] * 4

    def take(i: int) -> None:
        slot = limiter.acquire(10.0, who=i)
        started[i] = fake.clock()
        limiter.release(slot)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert all(moment >= 10.0 for moment in started), started


def test_a_pause_longer_than_the_budget_is_refused_at_once() -> None:
    fake = FakeTime()
    limiter = RequestLimiter(2, fake.clock, fake.sleep)
    limiter.observe(429, 30.0, limiter.acquire(1.0))
    with pytest.raises(Paused) as paused:
        limiter.acquire(5.0, who="other")
    assert paused.value.seconds == 30.0 and fake.sleeps == []


def test_a_full_limit_waits_for_a_release() -> None:
    limiter = RequestLimiter(1)
    first = limiter.acquire(1.0)
    got = threading.Event()

    def second() -> None:
        limiter.release(limiter.acquire(10.0))
        got.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not got.wait(0.05)  # the one slot is taken
    limiter.release(first)
    assert got.wait(10)
    thread.join(timeout=10)
    assert limiter.in_flight == 0


# through the client --------------------------------------------------------------------


def test_a_pause_one_call_caused_holds_a_call_on_another_thread() -> None:
    fake = FakeTime()
    sent_at: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/v3"):
            body = {"access_token": "t", "token_type": "bearer", "expires_in": 86399}
            return httpx.Response(200, json=body)
        sent_at.append((request.url.path, fake.clock()))
        if request.url.path.endswith("/first"):
            return httpx.Response(429, headers={"Retry-After": "10"}, json={})
        return httpx.Response(200, json={"items": []})

    limiter = RequestLimiter(4, fake.clock, fake.sleep)
    once = RetryPolicy(attempts=1, rate_limited_attempts=1)
    target = platform_target(EMULATOR_URL)
    options = ClientOptions(httpx.MockTransport(handler), once, limiter=limiter)
    with PlatformClient(target, options) as client:
        failed: list[Exception] = []

        def first() -> None:
            try:
                client.call("read", "GET", "/flows/first")
            except Exception as error:  # the 429, not retried with one attempt
                failed.append(error)

        thread = threading.Thread(target=first)
        thread.start()
        thread.join(timeout=10)
        assert failed and "429" in str(failed[0])
        client.call("read", "GET", "/flows/second")
    assert [(path.rsplit("/", 1)[1], at) for path, at in sent_at] == [
        ("first", 0.0),
        ("second", 10.0),
    ]


def test_a_storm_of_429_slows_everyone_then_recovers_and_everything_converges(
    tmp_path: Path,
) -> None:
    """30% of the Flow Service requests answered 429 (Retry-After: 1) while 6 dataflows are
    applied at concurrency 8; then a calm. Every request eventually succeeds, nothing is
    created twice, and the limit drops and grows back. (That a pause holds the threads
    that did not get the 429 is shown above, where the order of events is fixed.)"""
    fake = FakeTime()
    app = EmulatorApp()
    inner = EmulatorTransport(app)
    storm = threading.Event()
    storm.set()
    chance = random.Random(20261129)
    lock = threading.Lock()
    answered: Counter[tuple[str, int]] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/flowservice", 1)[-1].split("/")[1:2]
        key = f"{request.method} /{kind[0] if kind else ''}"
        with lock:
            refuse = storm.is_set() and "/flowservice/" in request.url.path
            refuse = refuse and chance.random() < 0.3
        if refuse:
            with lock:
                answered[(key, 429)] += 1
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"title": "slow down"})
        response = inner.handle_request(request)
        with lock:
            answered[(key, response.status_code)] += 1
        return response

    folder = tmp_path / "manifests"
    names = tuple(f"flow-{i}" for i in range(6))
    write_flows(folder, True, names)
    limiter = RequestLimiter(8, fake.clock, fake.sleep)
    patient = RetryPolicy(attempts=40, base_delay=0.001, max_delay=0.002, max_elapsed=600)
    target = platform_target(EMULATOR_URL)
    manifests = load_manifests([folder], secrets=True, environ=SECRETS).manifests
    options = ClientOptions(
        httpx.MockTransport(handler), patient, concurrency=8, sleep=fake.sleep, limiter=limiter
    )
    with PlatformClient(target, options) as client:
        the_plan, managed = plan_for(client, manifests, target, Scope(), environ={})
        report = Applier(client, the_plan, managed).run()
        storm.clear()
        lowest = min(limiter.history)
        calm_reads = 0
        while limiter.limit < 8 and calm_reads < 100:
            client.list_all("flows", [], "read the dataflows")
            calm_reads += 1
        again, _ = plan_for(client, manifests, target, Scope(), environ={})

    assert report.failed == [], report.failed
    assert not again.has_changes
    assert answered[("GET /flows", 429)] + answered[("POST /flows", 429)] > 0
    # Every create went through exactly once: one per object, none repeated.
    kinds = ("flows", "connections", "sourceConnections", "targetConnections")
    made = {kind: len(list(app.store.entries(kind, "prod"))) for kind in kinds}
    assert made == {"flows": 6, "targetConnections": 6, "sourceConnections": 1, "connections": 7}
    for kind, count in made.items():
        created = answered[(f"POST /{kind}", 200)] + answered[(f"POST /{kind}", 201)]
        assert created == count, (kind, created, count)
    # The limit dropped during the storm (429s that say when: to three quarters of
    # --concurrency at most) and grew back.
    assert lowest == 6, list(limiter.history)
    assert limiter.limit == 8 and calm_reads < 100
    assert limiter.in_flight == 0
    # Every 429 was waited out (Retry-After: 1), on more than one thread.
    refusals = sum(n for (_, status), n in answered.items() if status == 429)
    assert sum(seconds for _, seconds in fake.sleeps) >= refusals
    assert len({ident for ident, _ in fake.sleeps}) > 1
