"""Durable timers in the database: retries and timeouts that fire even if the process that set them died.

``schedule`` is idempotent by timer id. ``due(now)`` claims the timers whose time has come: each is
handed to exactly one claimer (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite) for a claim period; the claimer acts and calls ``complete``. A claimer that dies before
completing loses its claim when the period ends, and the timer is due again — so a timer fires at
least once, and never to two claimers at the same time.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from ideamine_core.resilience.leases import Clock, insert_ignore
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import TimerRow

TIMERS = TimerRow.__table__
PENDING, CLAIMED, DONE, CANCELLED = "pending", "claimed", "done", "cancelled"


class Timer(BaseModel):
    """A timer as its claimer sees it."""

    model_config = ConfigDict(frozen=True)

    timer_id: str
    run_id: str
    task_id: str | None
    kind: str = Field(description="What firing means, e.g. 'retry' or 'timeout'.")
    fire_at: float
    payload: dict[str, Any]
    attempts: int = Field(description="How many times it was claimed, this claim included.")


class TimerStore:
    """Schedule, claim, complete and cancel durable timers."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock

    def schedule(
        self,
        timer_id: str,
        *,
        run_id: str,
        kind: str,
        fire_at: float,
        task_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Set a timer; a second call with the same id changes nothing. True if it was new."""
        values = dict(
            timer_id=timer_id,
            run_id=run_id,
            task_id=task_id,
            kind=kind,
            fire_at=fire_at,
            status=PENDING,
            payload=payload or {},
            created_at=self.clock(),
            attempts=0,
        )
        return self.db.write(lambda conn: insert_ignore(conn, TIMERS, values))

    def due(
        self, owner: str, *, now: float | None = None, limit: int = 100, claim_for: float = 60.0
    ) -> list[Timer]:
        """Claim up to `limit` timers due at `now` (and claims abandoned for `claim_for` seconds)."""

        def txn(conn: Connection) -> list[Timer]:
            at = self.clock() if now is None else now
            ready = sa.or_(
                sa.and_(TIMERS.c.status == PENDING, TIMERS.c.fire_at <= at),
                sa.and_(TIMERS.c.status == CLAIMED, TIMERS.c.claim_expires_at <= at),
            )
            query = sa.select(TIMERS).where(ready).order_by(TIMERS.c.fire_at, TIMERS.c.timer_id).limit(limit)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if not rows:
                return []
            ids = [r.timer_id for r in rows]
            conn.execute(
                sa.update(TIMERS)
                .where(TIMERS.c.timer_id.in_(ids))
                .values(
                    status=CLAIMED,
                    claim_owner=owner,
                    claim_expires_at=at + claim_for,
                    attempts=TIMERS.c.attempts + 1,
                )
            )
            return [_timer(r, r.attempts + 1) for r in rows]

        return self.db.write(txn)

    def complete(self, timer_id: str, owner: str) -> bool:
        """The claimer acted on the timer: it is done. False if the claim was lost meanwhile."""
        return self._finish(timer_id, DONE, owner)

    def cancel(self, timer_id: str) -> bool:
        """Cancel a pending or claimed timer (the retry is no longer needed). False if it was over."""
        return self._finish(timer_id, CANCELLED, None)

    def _finish(self, timer_id: str, status: str, owner: str | None) -> bool:
        where = [TIMERS.c.timer_id == timer_id, TIMERS.c.status.in_([PENDING, CLAIMED])]
        if owner is not None:
            where += [TIMERS.c.status == CLAIMED, TIMERS.c.claim_owner == owner]
        query = sa.update(TIMERS).where(*where).values(status=status, fired_at=self.clock())
        return bool(self.db.write(lambda conn: conn.execute(query).rowcount))

    def pending(self, run_id: str | None = None) -> list[Timer]:
        """Timers not yet done or cancelled, soonest first."""
        query = sa.select(TIMERS).where(TIMERS.c.status.in_([PENDING, CLAIMED])).order_by(TIMERS.c.fire_at)
        if run_id is not None:
            query = query.where(TIMERS.c.run_id == run_id)
        with self.db.read() as conn:
            return [_timer(r, r.attempts) for r in conn.execute(query)]


def _timer(row: Any, attempts: int) -> Timer:
    return Timer(
        timer_id=row.timer_id,
        run_id=row.run_id,
        task_id=row.task_id,
        kind=row.kind,
        fire_at=row.fire_at,
        payload=row.payload,
        attempts=attempts,
    )
