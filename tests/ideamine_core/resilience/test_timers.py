"""Durable timers on SQLite and PostgreSQL, with a frozen clock: a timer set by one store object (a
process that then dies) is found by another; it is due only at its time; concurrent claimers get each
due timer exactly once; a claim abandoned by a dead claimer comes back after its period; cancelled and
completed timers never fire again; scheduling is idempotent."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from ideamine_core.resilience.timers import TimerStore
from ideamine_core.storage.database import Database

T0 = 1_800_000_000.0


@pytest.fixture
def traveller() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as travel:
        yield travel


def test_a_timer_survives_its_setter_and_fires_once_at_its_time(db: Database, traveller: Any) -> None:
    assert TimerStore(db).schedule(
        "retry:t1:1", run_id="r", kind="retry", fire_at=T0 + 2, task_id="t1", payload={"delay": 2}
    )
    assert not TimerStore(db).schedule("retry:t1:1", run_id="r", kind="retry", fire_at=T0 + 99)  # idempotent
    other = TimerStore(db)  # another process
    assert other.due("sup-1") == []
    traveller.shift(2.0)
    (timer,) = other.due("sup-1")
    assert (timer.timer_id, timer.kind, timer.fire_at, timer.payload, timer.attempts) == (
        "retry:t1:1",
        "retry",
        T0 + 2,
        {"delay": 2},
        1,
    )
    assert other.due("sup-2") == []  # claimed
    assert other.complete("retry:t1:1", "sup-1")
    traveller.shift(3600)
    assert other.due("sup-2") == []
    assert other.pending() == []


def test_an_abandoned_claim_comes_back(db: Database, traveller: Any) -> None:
    store = TimerStore(db)
    store.schedule("timeout:t2", run_id="r", kind="timeout", fire_at=T0)
    assert len(store.due("dies", claim_for=30)) == 1
    traveller.shift(29)
    assert store.due("sup") == []
    traveller.shift(1)
    (again,) = store.due("sup")
    assert again.attempts == 2
    assert not store.complete("timeout:t2", "dies")  # the dead claimer's late completion is refused
    assert store.complete("timeout:t2", "sup")


def test_cancel(db: Database, traveller: Any) -> None:
    store = TimerStore(db)
    store.schedule("retry:x", run_id="r", kind="retry", fire_at=T0 + 5)
    assert [t.timer_id for t in store.pending("r")] == ["retry:x"]
    assert store.cancel("retry:x")
    assert not store.cancel("retry:x")
    traveller.shift(10)
    assert store.due("sup") == []


@pytest.mark.timeout(60)
def test_concurrent_claimers_get_each_timer_exactly_once(db: Database, traveller: Any) -> None:
    store = TimerStore(db)
    for i in range(120):
        store.schedule(f"t{i:03d}", run_id="r", kind="retry", fire_at=T0 + (i % 7))
    traveller.shift(10)
    claimed: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        mine = TimerStore(db)
        barrier.wait()
        while batch := mine.due(name, limit=7):
            with lock:
                claimed.update(t.timer_id for t in batch)
            for t in batch:
                assert mine.complete(t.timer_id, name)

    threads = [threading.Thread(target=claimer, args=(f"c{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 120 and set(claimed.values()) == {1}
    print(f"\ntimers: 120 due, 4 concurrent claimers on {db.dialect}: claimed once each = {len(claimed)}/120")
