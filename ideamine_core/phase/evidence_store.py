"""Durable gate evidence: Q/A/V assumptions, knowledge-map frames and per-attempt evidence packs.

Writes are idempotent (RELIABILITY decision 3): frames are keyed by their deterministic id,
assumptions by `(run_id, idempotency_key)`, evidence packs by `(run_id, phase, attempt)` (a
re-evaluated attempt replaces its pack). So a retried write, or a re-run attempt, never duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ideamine_core.domain.artifact import EvidencePack
from ideamine_core.domain.evidence import Assumption, KmapFrame
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import AssumptionRow, EvidencePackRow, KmapFrameRow


def _insert(conn: Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class KnowledgeStore:
    """Gate evidence in the IdeaMine database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_frames(self, frames: Sequence[KmapFrame]) -> None:
        """Insert knowledge-map frames; a frame already stored is left as it is."""
        if not frames:
            return
        rows = [
            {
                "frame_id": f.frame_id,
                "run_id": f.run_id,
                "phase": f.phase,
                "question": f.question,
                "answer": f.answer,
                "verdict": f.verdict.value,
                "evidence": list(f.evidence),
                "created_at": f.created_at,
            }
            for f in frames
        ]

        def write(conn: Connection) -> None:
            conn.execute(_insert(conn, KmapFrameRow.__table__).values(rows).on_conflict_do_nothing())

        self.db.write(write)

    def save_assumptions(self, assumptions: Sequence[Assumption]) -> None:
        """Insert assumptions; one already recorded for the run (same key) is left as it is."""
        if not assumptions:
            return
        now = time.time()
        rows = [
            {
                "run_id": a.run_id,
                "phase": a.phase,
                "claim": a.claim,
                "source": a.source[:200],
                "status": a.status,
                "idempotency_key": a.idempotency_key,
                "created_at": now,
            }
            for a in assumptions
        ]

        def write(conn: Connection) -> None:
            stmt = _insert(conn, AssumptionRow.__table__).values(rows)
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "idempotency_key"]))

        self.db.write(write)

    def save_pack(self, run_id: str, pack: EvidencePack) -> None:
        """Store the evidence pack of one attempt, replacing an earlier evaluation of the same attempt."""
        row = {
            "run_id": run_id,
            "phase": pack.phase,
            "attempt": pack.attempt,
            "passed": pack.gate.passed,
            "score": pack.gate.score,
            "pack": pack.model_dump(mode="json"),
            "created_at": time.time(),
        }

        def write(conn: Connection) -> None:
            stmt = _insert(conn, EvidencePackRow.__table__).values(row)
            update = {k: stmt.excluded[k] for k in ("passed", "score", "pack", "created_at")}
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["run_id", "phase", "attempt"], set_=update)
            )

        self.db.write(write)

    def frames(self, run_id: str, phase: str | None = None) -> list[KmapFrame]:
        """The frames of a run (and phase), oldest first."""
        t = KmapFrameRow.__table__
        query = sa.select(t).where(t.c.run_id == run_id).order_by(t.c.created_at, t.c.frame_id)
        if phase is not None:
            query = query.where(t.c.phase == phase)
        rows = self.db.read_with_retry(lambda conn: conn.execute(query).mappings().all())
        return [KmapFrame.model_validate(dict(r)) for r in rows]

    def assumptions(self, run_id: str, phase: str | None = None) -> list[Assumption]:
        """The assumptions recorded for a run (and phase), in insertion order."""
        t = AssumptionRow.__table__
        query = sa.select(t).where(t.c.run_id == run_id).order_by(t.c.id)
        if phase is not None:
            query = query.where(t.c.phase == phase)
        rows = self.db.read_with_retry(lambda conn: conn.execute(query).mappings().all())
        fields = set(Assumption.model_fields)
        return [Assumption.model_validate({k: v for k, v in dict(r).items() if k in fields}) for r in rows]

    def packs(self, run_id: str, phase: str) -> list[EvidencePack]:
        """The evidence packs of a phase, by attempt."""
        t = EvidencePackRow.__table__
        query = sa.select(t.c.pack).where(t.c.run_id == run_id, t.c.phase == phase).order_by(t.c.attempt)
        rows = self.db.read_with_retry(lambda conn: conn.execute(query).scalars().all())
        return [EvidencePack.model_validate(r) for r in rows]
