"""Heartbeat store conformance, run on the database backend and on Redis (each over SQLite and
PostgreSQL): leases carry monotonically increasing fencing tokens kept in the database; a live lease
cannot be taken but an expired one can; a takeover or revocation fences the old holder out of beats,
checkpoints and any `check_fencing` write; revocation is a compare-and-set won once; `live()` shows
each leased task's latest beat and progress samples; the background heartbeat thread beats, follows
the work when asked, stops reliably and reports when it was fenced out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from resilience_helpers import ManualClock

from ideamine_core.domain.phase import HeartbeatSpec
from ideamine_core.errors import LeaseHeldError, StaleFencingTokenError
from ideamine_core.resilience.heartbeat_thread import HeartbeatThread, leased_task
from ideamine_core.resilience.heartbeats import HeartbeatStore
from ideamine_core.resilience.leases import MAX_SAMPLES, LeaseTable
from ideamine_core.resilience.redis_heartbeats import RedisHeartbeatStore
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import check_fencing
from ideamine_core.storage.tables import TaskRow


def _acquire(store: HeartbeatStore, owner: str = "worker-a", task: str = "t1", ttl: float = 3.0):  # noqa: ANN202
    return store.acquire(task, owner, ttl, run_id="run-1", phase="prd", agent="PRDWriter", interval=1.0)


def test_tokens_increase_and_a_live_lease_is_exclusive(hb_store: HeartbeatStore, clock: ManualClock) -> None:
    first = _acquire(hb_store)
    assert first.token == 1
    with pytest.raises(LeaseHeldError, match="leased by worker-a"):
        _acquire(hb_store, owner="worker-b")
    again = _acquire(hb_store)  # the same owner may re-acquire: a new epoch, a new token
    assert again.token == 2
    clock.advance(10.0)  # past the ttl (plus the Redis backend's renewal allowance) without a beat
    taken = _acquire(hb_store, owner="worker-b")
    assert taken.token == 3
    assert hb_store.leases.current_token("t1") == 3  # type: ignore[attr-defined]


def test_a_missing_task_needs_its_run_and_phase(hb_store: HeartbeatStore) -> None:
    with pytest.raises(ValueError, match="pass run_id and phase"):
        hb_store.acquire("nobody", "w", 3.0)


def test_beats_renew_the_lease_and_show_in_live(hb_store: HeartbeatStore, clock: ManualClock) -> None:
    lease = _acquire(hb_store)
    for step in range(1, 4):
        clock.advance(1.0)
        assert hb_store.beat(lease, progress=float(step)) is True
    (state,) = hb_store.live()
    assert (state.task_id, state.run_id, state.phase, state.owner) == ("t1", "run-1", "prd", "worker-a")
    assert state.token == lease.token and state.interval == 1.0
    assert state.beat_at == clock.now and state.progress == 3.0
    assert [p for _, p in state.samples] == [1.0, 2.0, 3.0]
    clock.advance(2.9)  # still within the ttl renewed by the last beat
    with pytest.raises(LeaseHeldError):
        _acquire(hb_store, owner="worker-b")


def test_samples_keep_only_the_most_recent(hb_store: HeartbeatStore, clock: ManualClock) -> None:
    lease = _acquire(hb_store)
    for step in range(MAX_SAMPLES + 5):
        clock.advance(0.5)
        hb_store.beat(lease, progress=float(step))
    (state,) = hb_store.live()
    assert len(state.samples) == MAX_SAMPLES
    assert state.samples[-1][1] == MAX_SAMPLES + 4


def test_takeover_fences_the_old_holder_out(hb_store: HeartbeatStore, clock: ManualClock) -> None:
    old = _acquire(hb_store)
    new = hb_store.take_over("t1", "supervisor-b", 3.0)
    assert new.token == old.token + 1
    with pytest.raises(StaleFencingTokenError) as info:
        hb_store.beat(old, progress=1.0)
    assert (info.value.token, info.value.current) == (old.token, new.token)
    assert hb_store.stats.rejected == [("t1", old.token, new.token)]
    with hb_store.db.write_once() as conn, pytest.raises(StaleFencingTokenError):  # type: ignore[attr-defined]
        check_fencing(conn, old.fence)  # what the ledger and checkpoint stores call
    assert hb_store.beat(new, progress=1.0) is True
    (state,) = hb_store.live()
    assert (state.owner, state.token) == ("supervisor-b", new.token)


def test_revoke_is_a_compare_and_set_won_once(hb_store: HeartbeatStore) -> None:
    lease = _acquire(hb_store)
    assert hb_store.revoke("t1", lease.token - 1) is None  # a stale view of the task
    results = []
    barrier = threading.Barrier(4)

    def contender() -> None:
        barrier.wait()
        results.append(hb_store.revoke("t1", lease.token))

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [lease.token + 1, None, None, None]
    assert hb_store.live() == []
    with pytest.raises(StaleFencingTokenError):
        hb_store.beat(lease)
    with hb_store.db.read() as conn:  # type: ignore[attr-defined]
        status = conn.execute(sa.select(TaskRow.status).where(TaskRow.task_id == "t1")).scalar_one()
    assert status == "stalled"


def test_release_ends_the_lease(hb_store: HeartbeatStore) -> None:
    lease = _acquire(hb_store)
    assert hb_store.release(lease, status="done") is True
    assert hb_store.live() == []
    assert hb_store.beat(lease) is False  # nothing to renew, and no error: the task is over
    assert _acquire(hb_store, owner="worker-b").token == lease.token + 1


@pytest.mark.timeout(30)
def test_heartbeat_thread_beats_and_stops_reliably(hb_store: HeartbeatStore) -> None:
    lease = hb_store.acquire("t1", "w", 1.0, run_id="run-1", phase="prd", interval=0.05)
    thread = HeartbeatThread(hb_store, lease, interval=0.05, release_status="done")
    with thread:
        thread.touch(progress=0.5)
        deadline = time.monotonic() + 10
        while thread.beats < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert thread.beats >= 3
    assert not thread._thread.is_alive()
    assert hb_store.live() == []  # released on exit
    assert not thread.must_stop.is_set()


@pytest.mark.timeout(30)
def test_heartbeat_thread_reports_a_takeover(hb_store: HeartbeatStore) -> None:
    lease = hb_store.acquire("t1", "w", 1.0, run_id="run-1", phase="prd", interval=0.05)
    thread = HeartbeatThread(hb_store, lease, interval=0.05).start()
    hb_store.take_over("t1", "supervisor", 1.0)
    assert thread.must_stop.wait(10)
    with pytest.raises(StaleFencingTokenError):
        thread.raise_if_stopped()
    thread.stop()  # does not release the lease it no longer holds
    assert [s.owner for s in hb_store.live()] == ["supervisor"]


def test_report_beats_one_sample_per_step_that_later_beats_do_not_repeat(
    hb_store: HeartbeatStore, clock: ManualClock
) -> None:
    lease = _acquire(hb_store)
    thread = HeartbeatThread(hb_store, lease, clock=clock)  # not started: its periodic beat is run by hand
    for progress in (1.0, 2.0):
        clock.advance(1.0)
        thread.report(progress)
    clock.advance(1.0)
    assert thread._beat_once()  # a periodic beat: alive now, but no new progress sample
    (state,) = hb_store.live()
    assert [p for _, p in state.samples] == [1.0, 2.0] and state.beat_at == clock.now
    hb_store.revoke("t1", lease.token)  # e.g. the supervisor saw its progress flat
    with pytest.raises(StaleFencingTokenError):
        thread.report(3.0)
    assert thread.fenced and thread.must_stop.is_set()


@pytest.mark.timeout(30)
def test_follow_work_sends_nothing_without_a_touch(hb_store: HeartbeatStore, clock: ManualClock) -> None:
    lease = hb_store.acquire("t1", "w", 1.0, run_id="run-1", phase="prd", interval=0.02)
    thread = HeartbeatThread(hb_store, lease, interval=0.02, follow_work=True, clock=clock)
    with thread:
        time.sleep(0.2)
        assert thread.beats == 0  # no touch since the lease was taken: nothing to carry
        clock.advance(5.0)
        thread.touch(progress=1.0)
        deadline = time.monotonic() + 10
        while thread.beats < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        (state,) = hb_store.live()
        assert state.beat_at == clock.now  # the time of the touch, not of the send
        time.sleep(0.2)
        assert thread.beats == 1


@pytest.mark.timeout(30)
def test_a_failing_check_asks_the_work_to_stop(hb_store: HeartbeatStore) -> None:
    lease = hb_store.acquire("t1", "w", 1.0, run_id="run-1", phase="prd", interval=0.02)

    def over_budget() -> None:
        raise RuntimeError("wall-clock budget exhausted")

    with HeartbeatThread(hb_store, lease, interval=0.02, checks=[over_budget]) as thread:
        assert thread.must_stop.wait(10)
        with pytest.raises(RuntimeError, match="wall-clock"):
            thread.raise_if_stopped()
    assert hb_store.live() == []  # still released: the lease was never lost


@pytest.mark.timeout(30)
def test_leased_task_ends_done_or_failed(hb_store: HeartbeatStore) -> None:
    spec = HeartbeatSpec(interval_seconds=0.05, stall_threshold=3)
    with leased_task(hb_store, "ok", run_id="run-1", phase="prd", heartbeat=spec, agent="PRDWriter") as hb:
        assert hb.lease.ttl == pytest.approx(0.15) and [s.task_id for s in hb_store.live()] == ["ok"]
    with pytest.raises(KeyError), leased_task(hb_store, "bad", run_id="run-1", phase="prd", heartbeat=spec):
        raise KeyError("agent bug")
    with hb_store.db.read() as conn:
        rows = dict(conn.execute(sa.select(TaskRow.task_id, TaskRow.status)).all())
    assert rows == {"ok": "done", "bad": "failed"}
    assert hb_store.live() == []


def test_a_takeover_blocked_by_a_paused_transaction_gives_up_until_the_next_tick(pg_url: str) -> None:
    db = Database(pg_url)
    db.setup()
    leases = LeaseTable(db, lock_timeout=0.3)
    lease = leases.acquire("t1", "w", 3.0, run_id="run-1", phase="prd")
    with db.write_once() as paused:  # a worker paused inside a fenced write holds the task row
        check_fencing(paused, lease.fence)
        started = time.monotonic()
        assert leases.revoke("t1", lease.token) is None
        assert time.monotonic() - started < 5
    assert leases.revoke("t1", lease.token) == lease.token + 1  # the next tick wins
    db.dispose()


# --- Redis only: the database confirms what Redis does not know ------------------------------------


@pytest.fixture
def redis_store(
    db: Database, clock: ManualClock, redis_url: str, redis_prefix: str
) -> Iterator[RedisHeartbeatStore]:
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    yield RedisHeartbeatStore(db, client, prefix=redis_prefix, clock=clock)
    client.close()


def test_a_key_lost_by_redis_is_restored_after_a_database_check(
    redis_store: RedisHeartbeatStore, clock: ManualClock
) -> None:
    lease = _acquire(redis_store)
    redis_store.client.delete(*redis_store._keys("t1"))  # what a Redis restart does
    (state,) = redis_store.live()
    assert state.source == "database" and state.lag > 0  # judged on the database, with its lag
    clock.advance(1.0)
    assert redis_store.beat(lease, progress=2.0) is True
    assert redis_store.stats.restored == 1
    (state,) = redis_store.live()
    assert (state.source, state.beat_at, state.lag) == ("redis", clock.now, 0.0)


def test_a_stale_worker_cannot_restore_a_lost_key(redis_store: RedisHeartbeatStore) -> None:
    old = _acquire(redis_store)
    new = redis_store.take_over("t1", "b", 3.0)
    redis_store.client.delete(*redis_store._keys("t1"))
    with pytest.raises(StaleFencingTokenError):
        redis_store.beat(old)
    assert redis_store.beat(new) is True


def test_the_database_lease_is_renewed_every_half_ttl(
    redis_store: RedisHeartbeatStore, clock: ManualClock
) -> None:
    lease = _acquire(redis_store)  # ttl 3 s: the database hears from us every 1.5 s
    start = clock.now
    for _ in range(4):
        clock.advance(1.0)
        redis_store.beat(lease)
    with redis_store.db.read() as conn:
        last = conn.execute(sa.select(TaskRow.last_heartbeat_at).where(TaskRow.task_id == "t1")).scalar_one()
    assert last == start + 4.0  # synced at +2 s and +4 s, not at every beat
    assert redis_store.stats.beats == 4
