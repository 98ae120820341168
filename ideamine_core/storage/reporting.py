"""SQL reports (phase performance, cost breakdown, gate history, recent runs, active tasks) and retention.

The queries are SQLAlchemy Core and run unchanged on SQLite and PostgreSQL; JSON fields of ledger
payloads are read with ``json_extract`` on SQLite and ``->>`` on PostgreSQL. Retention deletes old
events, checkpoints and phase metrics in batches — never ledger rows, which are append-only.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import (
    CheckpointRow,
    EventRow,
    HeartbeatRow,
    LedgerRow,
    PhaseMetricRow,
    PhaseRow,
    RunRow,
    TaskRow,
)

ACTIVE_TASK_STATUSES = ("running", "stalled")
DAY = 86_400.0
BATCH = 5_000


def json_field(db: Database, column: Any, key: str, as_float: bool = False) -> Any:
    """The payload field `key` of a JSON text column, as text or float, on either backend."""
    if db.dialect == "postgresql":
        value = sa.cast(column, JSONB)[key].astext
    else:
        value = sa.func.json_extract(column, f"$.{key}")
    return sa.cast(value, sa.Double) if as_float else value


def _rows(db: Database, query: Any) -> list[dict[str, Any]]:
    return db.read_with_retry(lambda conn: [dict(r) for r in conn.execute(query).mappings()])


def phase_performance(db: Database, *, since: float | None = None) -> list[dict[str, Any]]:
    """Per phase (runs started after `since`, or all): runs, mean/max seconds, pass rate, attempts."""
    seconds = PhaseRow.finished_at - PhaseRow.started_at
    passed = sa.case((PhaseRow.status == "passed", 1.0), else_=0.0)
    query = (
        sa.select(
            PhaseRow.phase,
            sa.func.count().label("runs"),
            sa.func.avg(seconds).label("mean_seconds"),
            sa.func.max(seconds).label("max_seconds"),
            sa.func.avg(passed).label("pass_rate"),
            sa.func.avg(PhaseRow.attempts).label("mean_attempts"),
        )
        .where(PhaseRow.finished_at.is_not(None))
        .group_by(PhaseRow.phase)
        .order_by(PhaseRow.phase)
    )
    if since is not None:
        query = query.where(PhaseRow.started_at >= since)
    return _rows(db, query)


def cost_breakdown(db: Database, run_id: str) -> list[dict[str, Any]]:
    """Per phase, agent and model of a run: billed calls, tokens and cost, from its ``cost`` entries."""
    agent, model = json_field(db, LedgerRow.payload, "agent"), json_field(db, LedgerRow.payload, "model")
    cached = json_field(db, LedgerRow.payload, "cached")
    billed = sa.case((sa.cast(cached, sa.String).in_(["true", "1"]), 0), else_=1)
    query = (
        sa.select(
            LedgerRow.phase,
            agent.label("agent"),
            model.label("model"),
            sa.func.sum(billed).label("calls"),
            sa.func.sum(json_field(db, LedgerRow.payload, "tokens_in", True)).label("tokens_in"),
            sa.func.sum(json_field(db, LedgerRow.payload, "tokens_out", True)).label("tokens_out"),
            sa.func.sum(json_field(db, LedgerRow.payload, "cost_usd", True)).label("cost_usd"),
        )
        .where(LedgerRow.run_id == run_id, LedgerRow.type == "cost")
        .group_by(LedgerRow.phase, agent, model)
        .order_by(LedgerRow.phase, agent, model)
    )
    return _rows(db, query)


def gate_history(
    db: Database, *, run_id: str | None = None, phase: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Gate evaluations, newest first: run, phase, attempt, score, threshold, passed, time."""
    field = json_field
    query = sa.select(
        LedgerRow.run_id,
        LedgerRow.seq,
        LedgerRow.ts,
        LedgerRow.phase,
        field(db, LedgerRow.payload, "attempt", True).label("attempt"),
        field(db, LedgerRow.payload, "score", True).label("score"),
        field(db, LedgerRow.payload, "threshold", True).label("threshold"),
        field(db, LedgerRow.payload, "passed").label("passed"),
    ).where(LedgerRow.type == "gate")
    if run_id is not None:
        query = query.where(LedgerRow.run_id == run_id)
    if phase is not None:
        query = query.where(LedgerRow.phase == phase)
    rows = _rows(db, query.order_by(LedgerRow.ts.desc(), LedgerRow.seq.desc()).limit(limit))
    for row in rows:
        row["passed"] = str(row["passed"]).lower() in ("true", "1")
    return rows


def recent_runs(db: Database, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs with their status, phases passed and ledger cost."""
    passed = (
        sa.select(sa.func.count())
        .where(PhaseRow.run_id == RunRow.run_id, PhaseRow.status == "passed")
        .scalar_subquery()
    )
    cost = (
        sa.select(sa.func.coalesce(sa.func.sum(json_field(db, LedgerRow.payload, "cost_usd", True)), 0.0))
        .where(LedgerRow.run_id == RunRow.run_id, LedgerRow.type == "cost")
        .scalar_subquery()
    )
    query = (
        sa.select(
            RunRow.run_id,
            RunRow.status,
            RunRow.model,
            RunRow.created_at,
            RunRow.updated_at,
            passed.label("phases_passed"),
            cost.label("cost_usd"),
        )
        .order_by(RunRow.created_at.desc())
        .limit(limit)
    )
    return _rows(db, query)


def active_tasks(db: Database, *, now: float | None = None, missed_beats: int = 3) -> list[dict[str, Any]]:
    """Running or stalled tasks with heartbeat age and status: healthy, late, or stalled (≥ N missed)."""
    now = time.time() if now is None else now
    query = (
        sa.select(
            TaskRow.task_id,
            TaskRow.run_id,
            TaskRow.phase,
            TaskRow.agent,
            TaskRow.status,
            TaskRow.attempt,
            TaskRow.lease_owner,
            sa.func.coalesce(HeartbeatRow.beat_at, TaskRow.last_heartbeat_at, TaskRow.started_at).label(
                "beat_at"
            ),
            HeartbeatRow.interval_seconds,
            sa.func.coalesce(HeartbeatRow.progress, TaskRow.progress).label("progress"),
        )
        .select_from(TaskRow)
        .outerjoin(HeartbeatRow, HeartbeatRow.task_id == TaskRow.task_id)
        .where(TaskRow.status.in_(ACTIVE_TASK_STATUSES))
        .order_by(TaskRow.run_id, TaskRow.phase, TaskRow.task_id)
    )
    rows = _rows(db, query)
    for row in rows:
        age = None if row["beat_at"] is None else max(0.0, now - row["beat_at"])
        interval = row["interval_seconds"] or 0.0
        row["heartbeat_age_seconds"] = age
        if row["status"] == "stalled" or age is None or (interval and age >= missed_beats * interval):
            row["heartbeat"] = "stalled"
        elif interval and age > interval * 1.5:
            row["heartbeat"] = "late"
        else:
            row["heartbeat"] = "healthy"
    return rows


def _purge(db: Database, table: Any, column: Any, key: Any, cutoff: float) -> int:
    """Delete rows with `column` < `cutoff` in batches of BATCH keys; returns the count."""
    total = 0
    while True:
        ids = sa.select(key).where(column < cutoff).limit(BATCH).scalar_subquery()
        deleted = db.write(lambda conn, ids=ids: conn.execute(sa.delete(table).where(key.in_(ids))).rowcount)
        total += deleted
        if deleted < BATCH:
            return total


def purge_events(db: Database, older_than_days: float, *, now: float | None = None) -> int:
    """Delete events older than the given number of days; returns how many."""
    cutoff = (time.time() if now is None else now) - older_than_days * DAY
    return _purge(db, EventRow.__table__, EventRow.ts, EventRow.id, cutoff)


def purge_checkpoints(db: Database, older_than_days: float, *, now: float | None = None) -> int:
    """Delete checkpoints older than the given number of days; returns how many."""
    cutoff = (time.time() if now is None else now) - older_than_days * DAY
    return _purge(db, CheckpointRow.__table__, CheckpointRow.created_at, CheckpointRow.task_id, cutoff)


def purge_phase_metrics(db: Database, older_than_days: float, *, now: float | None = None) -> int:
    """Delete phase metric samples older than the given number of days; returns how many."""
    cutoff = (time.time() if now is None else now) - older_than_days * DAY
    return _purge(db, PhaseMetricRow.__table__, PhaseMetricRow.ts, PhaseMetricRow.id, cutoff)


def purge_old(db: Database, older_than_days: float, *, now: float | None = None) -> dict[str, int]:
    """Retention clean-up of events, checkpoints and phase metrics (never the ledger)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be zero or more")
    return {
        "events": purge_events(db, older_than_days, now=now),
        "checkpoints": purge_checkpoints(db, older_than_days, now=now),
        "phase_metrics": purge_phase_metrics(db, older_than_days, now=now),
    }
