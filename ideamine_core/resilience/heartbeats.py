"""Heartbeat store protocol with its database backend, and the factory that picks database or Redis.

A running task holds a :class:`Lease` and beats it every ``heartbeat.interval_seconds``; the
supervisor reads :meth:`HeartbeatStore.live` to find tasks that stopped beating or stopped making
progress. Both backends keep leases and fencing tokens in the database (``tasks``); the database
backend also keeps the beats there (``tasks.last_heartbeat_at`` and ``heartbeats``), the Redis
backend (:mod:`ideamine_core.resilience.redis_heartbeats`) keeps them in Redis keys with a TTL and
renews the database lease less often.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ideamine_core.errors import StaleFencingTokenError
from ideamine_core.resilience.leases import BEATS, TASKS, Clock, Lease, LeaseTable
from ideamine_core.storage.database import Database

Sample = tuple[float, float]
"""A progress sample: (beat time, progress)."""


@dataclass(frozen=True)
class BeatState:
    """What the supervisor knows about one leased task: its latest beat and recent progress."""

    task_id: str
    run_id: str
    phase: str
    owner: str
    token: int
    interval: float
    beat_at: float
    progress: float | None = None
    samples: tuple[Sample, ...] = ()
    lag: float = 0.0
    """How far `beat_at` may trail the worker's real last beat (0 when read from the live source)."""
    source: str = "database"

    def age(self, now: float) -> float:
        """Seconds since the last beat."""
        return now - self.beat_at


@dataclass(frozen=True)
class StoreHealth:
    """Whether the store's live data can be trusted now (False during and after a Redis outage)."""

    ok: bool = True
    recovered_at: float | None = None
    """Since when the live source has been complete again (after a start, outage or restart); the
    supervisor gives no verdict on its data for a grace period after this."""
    detail: str = ""


@dataclass
class BeatStats:
    """Counters a store keeps about its own beats (reported by the chaos tests)."""

    beats: int = 0
    fallbacks: int = 0
    """Beats written to the database because Redis was unreachable."""
    restored: int = 0
    """Beats that re-created a Redis key Redis had lost."""
    rejected: list[tuple[str, int, int]] = field(default_factory=list)
    """(task, stale token, current token) of every beat refused by fencing."""


class HeartbeatStore(Protocol):
    """Leases, beats and the supervisor's view of them; implemented over the database and Redis."""

    db: Database
    """The database holding leases and fencing tokens (and decisions, checkpoints, ...)."""
    stats: BeatStats

    def acquire(
        self,
        task_id: str,
        owner: str,
        ttl: float,
        *,
        run_id: str | None = None,
        phase: str | None = None,
        agent: str = "",
        interval: float | None = None,
    ) -> Lease:
        """Take the task's lease with a new fencing token (LeaseHeldError if another owner holds it)."""
        ...

    def beat(self, lease: Lease, progress: float | None = None, *, at: float | None = None) -> bool:
        """Record that the task was alive at `at` (default now); StaleFencingTokenError when fenced out.

        Returns False when the lease was released meanwhile (the caller should stop beating).
        """
        ...

    def release(self, lease: Lease, *, status: str | None = None) -> bool:
        """Give the lease up when the task ends; optionally set the task's status."""
        ...

    def take_over(self, task_id: str, owner: str, ttl: float, *, interval: float | None = None) -> Lease:
        """Take the lease from its current holder (who is fenced out) and hold it as `owner`."""
        ...

    def revoke(
        self,
        task_id: str,
        expected_token: int,
        *,
        status: str = "stalled",
        also: Callable[[Connection, int], None] | None = None,
    ) -> int | None:
        """Compare-and-set: fence the holder of `expected_token` out; None if the token moved on."""
        ...

    def live(self, now: float | None = None) -> list[BeatState]:
        """Every task that holds a lease, with its latest beat."""
        ...

    def health(self, now: float | None = None) -> StoreHealth:
        """Whether `live()` can be trusted right now."""
        ...


class DatabaseHeartbeatStore:
    """Heartbeats in the database: every beat renews the lease and appends a progress sample."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock
        self.leases = LeaseTable(db, clock=clock)
        self.stats = BeatStats()

    def acquire(
        self,
        task_id: str,
        owner: str,
        ttl: float,
        *,
        run_id: str | None = None,
        phase: str | None = None,
        agent: str = "",
        interval: float | None = None,
    ) -> Lease:
        """Take the task's lease with a new fencing token (LeaseHeldError if another owner holds it)."""
        return self.leases.acquire(
            task_id, owner, ttl, run_id=run_id, phase=phase, agent=agent, interval=interval
        )

    def beat(self, lease: Lease, progress: float | None = None, *, at: float | None = None) -> bool:
        """Renew the lease in the database; StaleFencingTokenError when fenced out."""
        when = self.clock() if at is None else at
        try:
            ok = self.db.write(lambda conn: self.leases.renew(conn, lease, when, progress))
        except Exception as exc:
            note_rejection(self.stats, exc)
            raise
        self.stats.beats += 1
        return ok

    def release(self, lease: Lease, *, status: str | None = None) -> bool:
        """Give the lease up when the task ends; optionally set the task's status."""
        return self.leases.release(lease, status=status)

    def take_over(self, task_id: str, owner: str, ttl: float, *, interval: float | None = None) -> Lease:
        """Take the lease from its current holder (who is fenced out) and hold it as `owner`."""
        return self.leases.acquire(task_id, owner, ttl, interval=interval, force=True)

    def revoke(
        self,
        task_id: str,
        expected_token: int,
        *,
        status: str = "stalled",
        also: Callable[[Connection, int], None] | None = None,
    ) -> int | None:
        """Compare-and-set: fence the holder of `expected_token` out; None if the token moved on."""
        return self.leases.revoke(task_id, expected_token, status=status, also=also)

    def live(self, now: float | None = None) -> list[BeatState]:
        """Every task that holds a lease, with its latest beat."""
        return [
            BeatState(
                task_id=row.task_id,
                run_id=row.run_id,
                phase=row.phase,
                owner=row.lease_owner,
                token=int(row.fencing_token),
                interval=float(row.interval_seconds),
                beat_at=float(row.beat_at),
                progress=row.progress,
                samples=tuple((float(t), float(p)) for t, p in row.samples or ()),
            )
            for row in self.db.read_with_retry(leased_rows)
        ]

    def health(self, now: float | None = None) -> StoreHealth:
        """The database is the reference: always trusted when it answers."""
        return StoreHealth()


def leased_rows(conn: Connection) -> list[sa.Row]:
    """Leased running tasks joined with their heartbeat rows (both backends read this)."""
    query = (
        sa.select(
            TASKS.c.task_id,
            TASKS.c.run_id,
            TASKS.c.phase,
            TASKS.c.lease_owner,
            TASKS.c.fencing_token,
            sa.func.coalesce(BEATS.c.beat_at, TASKS.c.last_heartbeat_at).label("beat_at"),
            BEATS.c.interval_seconds,
            BEATS.c.progress,
            BEATS.c.samples,
            BEATS.c.lag_seconds,
        )
        .join(BEATS, BEATS.c.task_id == TASKS.c.task_id)
        .where(TASKS.c.lease_owner.is_not(None), TASKS.c.status == "running")
        .order_by(TASKS.c.task_id)
    )
    return list(conn.execute(query))


def note_rejection(stats: BeatStats, exc: BaseException) -> None:
    """Count a beat refused by fencing (kept for the zombie-writer figures)."""
    if isinstance(exc, StaleFencingTokenError):
        stats.rejected.append((exc.task_id, exc.token, exc.current))


def heartbeat_store(
    db: Database,
    redis_url: str | None = None,
    *,
    prefix: str = "ideamine:",
    on_redis_down: str = "error",
    clock: Clock = time.time,
) -> HeartbeatStore:
    """The configured store: Redis when `redis_url` is set (REDIS_URL), else the database.

    `on_redis_down` says what to do when Redis cannot be reached at start: ``"error"`` raises
    ServiceUnavailableError naming the cause and the fix, ``"database"`` falls back to the database.
    """
    if on_redis_down not in ("error", "database"):
        raise ValueError(f"on_redis_down must be 'error' or 'database', not {on_redis_down!r}")
    if not redis_url:
        return DatabaseHeartbeatStore(db, clock=clock)
    from ideamine_core.resilience.redis_heartbeats import RedisHeartbeatStore, redis_client

    client = redis_client(redis_url, required=on_redis_down == "error")
    if client is None:
        return DatabaseHeartbeatStore(db, clock=clock)
    return RedisHeartbeatStore(db, client, prefix=prefix, clock=clock)
