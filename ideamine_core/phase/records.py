"""Run and phase records: the run folder's JSON files and the `runs` / `phases` rows, kept in step.

The files are what a person browses next to the artifacts; the rows are what metrics, reports,
the supervisor and `ideamine events --follow` query.
"""

from __future__ import annotations

import time

from sqlalchemy.dialects import postgresql, sqlite

from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import PhaseRecord, RunRecord, RunStore
from ideamine_core.storage.tables import PhaseRow, RunRow

FINISHED = ("passed", "failed", "escalated", "interrupted")
"""Run statuses after which nothing more happens without a person (or `ideamine resume`)."""


class Records:
    """Writes run and phase records to the run folder and the database."""

    def __init__(self, db: Database, store: RunStore) -> None:
        self.db = db
        self.store = store

    def _upsert(self, table: object, values: dict, keys: list[str]) -> None:
        module = postgresql if self.db.dialect == "postgresql" else sqlite
        stmt = module.insert(table).values(**values)  # type: ignore[arg-type]
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in values.items() if k not in keys}
        )
        self.db.write(lambda conn: conn.execute(stmt))

    def run(self, record: RunRecord, status: str, model: str, detail: str = "") -> None:
        """Upsert the run's row with `status` (created, running, passed, failed, escalated, …)."""
        now = time.time()
        self._upsert(
            RunRow.__table__,
            {
                "run_id": record.run_id,
                "idea": record.submission.idea,
                "submission": record.submission.model_dump(mode="json"),
                "phases": list(record.phases),
                "status": status,
                "model": model,
                "created_at": record.created_at,
                "updated_at": now,
                "dagster_run_ids": list(record.dagster_run_ids),
                "detail": detail[:2000],
            },
            ["run_id"],
        )

    def phase(self, run_id: str, record: PhaseRecord) -> None:
        """Save a phase record as a file and as its row."""
        self.store.save_phase(run_id, record)
        self._upsert(
            PhaseRow.__table__,
            {
                "run_id": run_id,
                "phase": record.phase,
                "status": record.status,
                "started_at": record.started_at,
                "finished_at": record.finished_at,
                "gate_score": record.gate_score,
                "threshold": record.threshold,
                "attempts": record.attempts,
                "artifact_hash": record.artifact_hash,
                "detail": record.detail[:2000],
            },
            ["run_id", "phase"],
        )

    def run_outcome(self, run_id: str) -> str | None:
        """`passed`, `failed` or `escalated` once every planned phase has a final status, else None."""
        record = self.store.load_run(run_id)
        states = [self.store.load_phase(run_id, p) for p in record.phases]
        if any(s is not None and s.status == "escalated" for s in states):
            return "escalated"
        if any(s is not None and s.status in ("failed", "error") for s in states):
            return "failed"
        if all(s is not None and s.status == "passed" for s in states):
            return "passed"
        return None
