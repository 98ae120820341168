"""Circuit breaker conformance on the database (SQLite, PostgreSQL) and Redis, with a manual clock: it
opens after K counted failures within the window (not K spread over longer), refuses while open,
grants exactly one probe per reset timeout across workers sharing the state, closes on a successful
probe and re-opens on a failed one; a worker that believes it closed sees OPEN within one poll; only
server errors and timeouts count, never 4xx, 429 or our own refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis
from resilience_helpers import ManualClock

from ideamine_core.errors import (
    ContextLengthExceededError,
    ModelCallRefusedError,
    ModelHTTPError,
    ModelUnavailableError,
    RateLimitedError,
)
from ideamine_core.resilience.breaker_storage import DatabaseBreakerStorage, RedisBreakerStorage
from ideamine_core.resilience.circuit_breaker import (
    BreakerPolicy,
    BreakerStorage,
    CircuitBreaker,
    State,
    counts_as_failure,
)
from ideamine_core.storage.database import Database

POLICY = BreakerPolicy(failure_threshold=3, window_seconds=10, reset_timeout=5, poll_seconds=1)
BOOM = ModelHTTPError("503", provider="openai", model="m", status=503)


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[BreakerStorage]:
    if request.param != "redis":
        db = Database(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
        db.setup()
        yield DatabaseBreakerStorage(db)
        db.dispose()
        return
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(url)
    yield RedisBreakerStorage(client, prefix=prefix)
    client.close()


def _pair(storage: BreakerStorage, clock: ManualClock) -> tuple[CircuitBreaker, CircuitBreaker]:
    """Two workers (processes) sharing one breaker state."""
    return CircuitBreaker(storage, POLICY, clock=clock), CircuitBreaker(storage, POLICY, clock=clock)


def test_opens_after_k_failures_in_the_window(storage: BreakerStorage, clock: ManualClock) -> None:
    a, _ = _pair(storage, clock)
    a.on_failure("openai", BOOM)
    clock.advance(11)  # the window passed: counting starts again
    a.on_failure("openai", BOOM)
    a.on_failure("openai", BOOM)
    assert a.state("openai") is State.CLOSED and a.allow("openai")
    a.on_failure("openai", BOOM)
    assert a.state("openai") is State.OPEN
    assert not a.allow("openai")
    assert a.state("anthropic") is State.CLOSED  # per provider


def test_one_probe_per_reset_timeout_then_close(storage: BreakerStorage, clock: ManualClock) -> None:
    a, b = _pair(storage, clock)
    for _ in range(3):
        a.on_failure("openai", BOOM)
    clock.advance(4.9)
    assert not a.allow("openai") and not b.allow("openai")
    clock.advance(0.1)
    assert [a.allow("openai"), b.allow("openai"), a.allow("openai")] == [True, False, False]
    a.on_failure("openai", BOOM)  # the probe failed: open for another reset timeout
    clock.advance(4.9)
    assert not b.allow("openai")
    clock.advance(0.1)
    assert b.allow("openai") and not a.allow("openai")
    b.on_success("openai")
    assert a.state("openai") is State.CLOSED
    assert a.allow("openai") and b.allow("openai")


def test_a_lost_probe_is_granted_again_after_the_reset_timeout(
    storage: BreakerStorage, clock: ManualClock
) -> None:
    a, b = _pair(storage, clock)
    for _ in range(3):
        a.on_failure("openai", BOOM)
    clock.advance(5)
    assert a.allow("openai")  # ... and the worker holding the probe dies
    clock.advance(4)
    assert not b.allow("openai")
    clock.advance(1)
    assert b.allow("openai")


def test_a_worker_sees_open_within_one_poll(storage: BreakerStorage, clock: ManualClock) -> None:
    a, b = _pair(storage, clock)
    assert b.allow("openai")  # b now believes it closed
    for _ in range(3):
        a.on_failure("openai", BOOM)
    clock.advance(0.5)
    assert b.allow("openai")  # within its poll period b may still call ...
    clock.advance(0.5)
    assert not b.allow("openai")  # ... but no longer than one poll


def test_exactly_one_of_many_concurrent_callers_gets_the_probe(
    storage: BreakerStorage, clock: ManualClock
) -> None:
    breakers = [CircuitBreaker(storage, POLICY, clock=clock) for _ in range(8)]
    for _ in range(3):
        breakers[0].on_failure("openai", BOOM)
    clock.advance(5)
    granted: list[bool] = []
    barrier = threading.Barrier(len(breakers))

    def call(breaker: CircuitBreaker) -> None:
        barrier.wait()
        granted.append(breaker.allow("openai"))

    threads = [threading.Thread(target=call, args=(b,)) for b in breakers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(granted) == [False] * 7 + [True]


def test_client_errors_do_not_count(storage: BreakerStorage, clock: ManualClock) -> None:
    a, _ = _pair(storage, clock)
    for _ in range(10):
        a.on_failure("openai", ModelHTTPError("400", provider="openai", model="m", status=400))
    assert a.state("openai") is State.CLOSED


class _StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    ("exc", "counts"),
    [
        (ModelHTTPError("503", provider="p", model="m", status=503), True),  # server error
        (ModelHTTPError("408", provider="p", model="m", status=408), True),  # request timeout
        (ModelUnavailableError("refused", provider="p", model="m"), True),  # connection refused / timeout
        (TimeoutError(), True),  # a raw timeout
        (_StatusError(502), True),  # an SDK error with a status code that escaped translation
        (_StatusError(422), False),  # ... and a client-side one
        (ModelHTTPError("400", provider="p", model="m", status=400), False),  # validation error
        (ModelHTTPError("401", provider="p", model="m", status=401), False),  # bad key
        (RateLimitedError("429", provider="p", model="m", status=429), False),  # rate limit: not an outage
        (ContextLengthExceededError("long", provider="p", model="m"), False),  # the input's fault
        (ModelCallRefusedError("open", provider="p", model="m"), False),  # our own refusal
        (ValueError("bug"), False),  # a bug
    ],
)
def test_counts_as_failure(exc: BaseException, counts: bool) -> None:
    assert counts_as_failure(exc) is counts
