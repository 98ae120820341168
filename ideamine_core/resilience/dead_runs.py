"""Dead runs: runs marked running whose tasks all stopped beating (Dagster leaves them STARTED when the
whole process tree died, RELIABILITY appendix §1.2), for the lead to mark failed and resume."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from ideamine_core.resilience.heartbeats import HeartbeatStore
from ideamine_core.storage.tables import RunRow, TaskRow


class DeadRun(BaseModel):
    """A run marked running whose tasks have all stopped beating."""

    run_id: str
    last_beat_at: float | None
    silent_seconds: float
    tasks: int


def find_dead_runs(
    store: HeartbeatStore, *, dead_after: float, now: float, run_ids: Iterable[str] | None = None
) -> list[DeadRun]:
    """Runs marked running (`run_ids`, default the ``runs`` rows with status running) none of whose
    tasks has beaten for `dead_after` seconds; runs with no task yet are judged by their last update."""
    newest: dict[str, float] = {}
    for beat in store.live(now):
        newest[beat.run_id] = max(newest.get(beat.run_id, 0.0), beat.beat_at + beat.lag)
    with store.db.read() as conn:
        runs = _running(conn, run_ids)
        tasks = conn.execute(
            sa.select(TaskRow.run_id, sa.func.max(TaskRow.last_heartbeat_at), sa.func.count())
            .where(TaskRow.run_id.in_(list(runs)))
            .group_by(TaskRow.run_id)
        ).all()
    counts = {run: (last, n) for run, last, n in tasks}
    dead = []
    for run_id, updated in runs.items():
        last_task, n = counts.get(run_id, (None, 0))
        marks = [v for v in (newest.get(run_id), last_task) if v is not None]
        last = max(marks) if marks else updated
        if last is not None and now - last >= dead_after:
            dead.append(DeadRun(run_id=run_id, last_beat_at=last, silent_seconds=now - last, tasks=n))
    return dead


def _running(conn: Connection, run_ids: Iterable[str] | None) -> dict[str, float | None]:
    """Run id → last update time of the runs to judge."""
    if run_ids is None:
        rows = conn.execute(sa.select(RunRow.run_id, RunRow.updated_at).where(RunRow.status == "running"))
        return {r.run_id: r.updated_at for r in rows}
    wanted = list(run_ids)
    known = dict(
        conn.execute(sa.select(RunRow.run_id, RunRow.updated_at).where(RunRow.run_id.in_(wanted))).all()
    )
    return {r: known.get(r) for r in wanted}
