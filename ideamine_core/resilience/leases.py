"""Task leases with fencing tokens in the ``tasks`` table, the source of truth on every backend.

A lease is a worker's hold on a task. Each acquisition, takeover or revocation increments the task's
``fencing_token``, so a worker that was paused while its lease was taken over holds a stale token and
every fenced write it makes (heartbeat, checkpoint, ledger: :func:`check_fencing`) is rejected with
:class:`StaleFencingTokenError` (RELIABILITY decision 6). The heartbeat stores build on this module;
Redis only ever mirrors the token, it never issues one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from ideamine_core.errors import LeaseHeldError
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import Fence, check_fencing
from ideamine_core.storage.tables import HeartbeatRow, TaskRow

log = logging.getLogger(__name__)

Clock = Callable[[], float]
LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock_timeout."""
TASKS = TaskRow.__table__
BEATS = HeartbeatRow.__table__
MAX_SAMPLES = 32
"""Progress samples kept per task for the slope monitor."""


@dataclass(frozen=True)
class Lease:
    """A worker's hold on a task: who holds it, with which fencing token, and its beat timing."""

    task_id: str
    owner: str
    token: int
    ttl: float
    """Seconds the lease lasts without a heartbeat (renewed by each beat)."""
    interval: float
    """Heartbeat interval the worker promised (phase YAML ``heartbeat.interval_seconds``)."""
    run_id: str
    phase: str

    @property
    def fence(self) -> Fence:
        """The fence to pass to every durable write made under this lease."""
        return Fence(self.task_id, self.token)


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT unless the primary key exists (idempotent on both backends); True if a row was added."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = list(table.primary_key.columns)[0]
    # rowcount is -1 for this statement under psycopg 3, so ask for the inserted key instead
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


class LeaseTable:
    """Acquire, renew, release, take over and revoke task leases in the database."""

    def __init__(self, db: Database, *, clock: Clock = time.time, lock_timeout: float = 2.0) -> None:
        self.db = db
        self.clock = clock
        self.lock_timeout = lock_timeout

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
        force: bool = False,
        lag: float = 0.0,
    ) -> Lease:
        """Take the task's lease with a new token; LeaseHeldError if another owner's lease is live.

        `force` takes it even from a live owner (the supervisor's takeover). The task row is created
        when missing, which needs `run_id` and `phase`. `lag` is as in :meth:`renew`.
        """
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive seconds, got {ttl}")
        beat_every = interval if interval is not None else ttl / 3

        def txn(conn: Connection) -> Lease:
            now = self.clock()
            row = self._task_row(conn, task_id, run_id, phase, agent, now)
            live = row.lease_owner is not None and (row.lease_expires_at or 0) > now
            if live and row.lease_owner != owner and not force:
                raise LeaseHeldError(task_id, row.lease_owner, row.lease_expires_at or now)
            token = int(row.fencing_token) + 1
            conn.execute(
                sa.update(TASKS)
                .where(TASKS.c.task_id == task_id)
                .values(
                    fencing_token=token,
                    lease_owner=owner,
                    lease_expires_at=now + ttl + lag,
                    last_heartbeat_at=now,
                    status="running",
                    attempt=TASKS.c.attempt + 1,
                    started_at=sa.func.coalesce(TASKS.c.started_at, now),
                )
            )
            lease = Lease(task_id, owner, token, ttl, beat_every, row.run_id, row.phase)
            self._reset_beat_row(conn, lease, now, lag)
            return lease

        return self.db.write(txn)

    def _task_row(
        self, conn: Connection, task_id: str, run_id: str | None, phase: str | None, agent: str, now: float
    ) -> Any:
        query = sa.select(TASKS).where(TASKS.c.task_id == task_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is not None:
            return row
        if run_id is None or phase is None:
            raise ValueError(f"task {task_id} does not exist yet: pass run_id and phase to create it")
        values = dict(task_id=task_id, run_id=run_id, phase=phase, agent=agent, status="pending")
        insert_ignore(conn, TASKS, values | {"fencing_token": 0, "attempt": 0, "detail": {}})
        return conn.execute(query).one()

    @staticmethod
    def _reset_beat_row(conn: Connection, lease: Lease, now: float, lag: float) -> None:
        conn.execute(sa.delete(BEATS).where(BEATS.c.task_id == lease.task_id))
        conn.execute(
            sa.insert(BEATS).values(
                task_id=lease.task_id,
                run_id=lease.run_id,
                phase=lease.phase,
                owner=lease.owner,
                fencing_token=lease.token,
                beat_at=now,
                interval_seconds=lease.interval,
                progress=None,
                seq=0,
                samples=[],
                lag_seconds=lag,
            )
        )

    def renew(
        self, conn: Connection, lease: Lease, at: float, progress: float | None, *, lag: float = 0.0
    ) -> bool:
        """Record a beat at `at` inside the caller's transaction; fenced. False if the lease was released.

        `lag` is how long the next database renewal may take beyond one interval (the Redis backend
        renews every ttl / 2): the lease is extended by it, and the supervisor allows for it.
        """
        check_fencing(conn, lease.fence)
        values: dict[str, Any] = {"last_heartbeat_at": at, "lease_expires_at": at + lease.ttl + lag}
        if progress is not None:
            values["progress"] = progress
        done = conn.execute(
            sa.update(TASKS)
            .where(TASKS.c.task_id == lease.task_id, TASKS.c.fencing_token == lease.token)
            .where(TASKS.c.lease_owner == lease.owner)
            .values(**values)
        )
        if not done.rowcount:
            return False
        row = conn.execute(sa.select(BEATS.c.samples).where(BEATS.c.task_id == lease.task_id)).first()
        samples = list(row.samples) if row is not None else []
        if progress is not None:
            samples = (samples + [[at, progress]])[-MAX_SAMPLES:]
        conn.execute(
            sa.update(BEATS)
            .where(BEATS.c.task_id == lease.task_id)
            .values(beat_at=at, progress=progress, seq=BEATS.c.seq + 1, samples=samples, lag_seconds=lag)
        )
        return True

    def release(self, lease: Lease, *, status: str | None = None) -> bool:
        """Give the lease up (the task finished or failed); fenced. False if it was already gone."""

        def txn(conn: Connection) -> bool:
            check_fencing(conn, lease.fence)
            values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
            if status is not None:
                values |= {"status": status, "finished_at": self.clock()}
            done = conn.execute(
                sa.update(TASKS)
                .where(TASKS.c.task_id == lease.task_id, TASKS.c.fencing_token == lease.token)
                .values(**values)
            )
            conn.execute(
                sa.delete(BEATS).where(BEATS.c.task_id == lease.task_id, BEATS.c.fencing_token == lease.token)
            )
            return bool(done.rowcount)

        return self.db.write(txn)

    def revoke(
        self,
        task_id: str,
        expected_token: int,
        *,
        status: str = "stalled",
        also: Callable[[Connection, int], None] | None = None,
    ) -> int | None:
        """Fence the current holder out: compare-and-set the token, clear the lease.

        Returns the new token, or None when the token had already moved on (another supervisor, a
        takeover, a finished task) — so at most one caller ever wins a given stall. `also(conn, token)`
        runs in the same transaction (e.g. recording the decision that caused the revocation).

        On PostgreSQL a worker paused *inside* a transaction keeps its lock on the task row (taken by
        `check_fencing`); the takeover then gives up after `lock_timeout` seconds, returns None and is
        tried again at the next tick. Set ``idle_in_transaction_session_timeout`` on the database role
        so such a session is ended and its lock released.
        """

        def txn(conn: Connection) -> int | None:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
            done = conn.execute(
                sa.update(TASKS)
                .where(TASKS.c.task_id == task_id, TASKS.c.fencing_token == expected_token)
                .where(TASKS.c.lease_owner.is_not(None))
                .values(
                    fencing_token=expected_token + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    status=status,
                )
            )
            if not done.rowcount:
                return None
            conn.execute(sa.delete(BEATS).where(BEATS.c.task_id == task_id))
            if also is not None:
                also(conn, expected_token + 1)
            return expected_token + 1

        try:
            return self.db.write(txn)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            log.warning("takeover of task %s waits for a lock its stalled worker holds; retry later", task_id)
            return None

    def current_token(self, task_id: str) -> int | None:
        """The task's current fencing token (None if the task does not exist)."""
        with self.db.read() as conn:
            return conn.execute(
                sa.select(TASKS.c.fencing_token).where(TASKS.c.task_id == task_id)
            ).scalar_one_or_none()
