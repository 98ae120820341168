"""Metrics of a run and its phases, computed from the ledger and the ``phases``/``phase_metrics`` tables.

What is read, exactly (the payload models live in ``ideamine_core.ledger.payloads``):

- ``task`` entries (TaskPayload): ``phase``, ``status`` (succeeded/failed), ``tokens_in``,
  ``tokens_out``, ``cost_usd``, ``cached``, ``tool_seconds``;
- ``cost`` entries (CostPayload): ``phase``, ``tokens_in``, ``tokens_out``, ``cost_usd``, ``cached``.
  When a phase has cost entries, its tokens and cost come from them only; otherwise from its task
  entries (so a pipeline writing both is never counted twice);
- ``gate`` entries (GatePayload): ``phase``, ``attempt``, ``score``, ``threshold``, ``passed``;
  the last one of a phase is its outcome; every evaluation counts towards the gate pass rate;
- ``phases`` rows: ``status``, ``started_at``/``finished_at`` (duration), and ``attempts``,
  ``gate_score``, ``threshold`` when a phase has no gate entry;
- ``phase_metrics`` rows: any extra named number, added to the phase's flat metrics;
- ``runs.phases``: the planned phases (completion rate = phases passed / planned).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite

from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import LedgerRow, PhaseMetricRow, PhaseRow, RunRow

PASSED = ("passed", "succeeded", "completed")


class PhaseMetrics(BaseModel):
    """One phase of one run."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    status: str | None = None
    duration_seconds: float | None = None
    gate_attempts: int = 0
    gate_passed: bool | None = None
    gate_score: float | None = None
    gate_threshold: float | None = None
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    model_calls: int = Field(default=0, description="Billed calls (cache hits excluded).")
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    tool_minutes: float = 0.0
    extra: dict[str, float] = Field(default_factory=dict, description="Rows of phase_metrics.")

    def flat(self) -> dict[str, float]:
        """Every number as ``name → float`` (for Dagster materialization metadata); unknowns left out."""
        values: dict[str, Any] = self.model_dump(exclude={"phase", "status", "extra"})
        flat = {k: float(v) for k, v in values.items() if v is not None}
        return flat | {k: float(v) for k, v in self.extra.items() if k not in flat}


class RunMetrics(BaseModel):
    """A run's phases and totals, with p95 phase latency over recent runs."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    phases: list[PhaseMetrics]
    planned_phases: int
    phases_passed: int
    completion_rate: float = Field(description="Phases passed / phases planned.")
    gate_evaluations: int
    gate_pass_rate: float | None = Field(description="Passed gate evaluations / all evaluations.")
    cost_usd: float
    tokens_in: int
    tokens_out: int
    tool_minutes: float
    tasks_succeeded: int
    tasks_failed: int
    duration_seconds: float | None
    p95_phase_seconds: dict[str, float] = Field(description="Per phase, over the recent runs.")
    recent_runs: int = Field(description="How many runs the p95 figures cover.")


def _ledger_frame(db: Database, run_id: str) -> pd.DataFrame:
    """Task, gate and cost payloads of a run as one DataFrame (column ``type`` says which)."""
    query = (
        sa.select(LedgerRow.seq, LedgerRow.type, LedgerRow.phase, LedgerRow.ts, LedgerRow.payload)
        .where(LedgerRow.run_id == run_id, LedgerRow.type.in_(["task", "gate", "cost"]))
        .order_by(LedgerRow.seq)
    )
    rows = db.read_with_retry(lambda conn: conn.execute(query).all())
    records = [
        json.loads(r.payload) | {"_type": r.type, "_seq": r.seq, "_ts": r.ts, "phase": r.phase} for r in rows
    ]
    frame = pd.DataFrame.from_records(records)
    for column, default in {
        "_type": "",
        "status": None,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "cached": False,
        "tool_seconds": 0.0,
        "attempt": 0,
        "score": None,
        "threshold": None,
        "passed": None,
    }.items():
        if column not in frame:
            frame[column] = default
    return frame


def _rows(db: Database, model: Any, run_id: str) -> list[Mapping[str, Any]]:
    query = sa.select(model.__table__).where(model.run_id == run_id)
    return db.read_with_retry(lambda conn: [dict(r) for r in conn.execute(query).mappings()])


def _usage(tasks: pd.DataFrame, costs: pd.DataFrame) -> dict[str, Any]:
    source = costs if len(costs) else tasks
    billed = source[~source["cached"].map(lambda v: v is True)]
    return {
        "model_calls": len(billed),
        "tokens_in": int(source["tokens_in"].fillna(0).sum()),
        "tokens_out": int(source["tokens_out"].fillna(0).sum()),
        "cost_usd": round(float(source["cost_usd"].fillna(0).sum()), 6),
    }


def _gate(gates: pd.DataFrame, row: Mapping[str, Any] | None) -> dict[str, Any]:
    if len(gates):
        last = gates.iloc[-1]
        return {
            "gate_attempts": int(gates["attempt"].max()),
            "gate_passed": bool(last["passed"]),
            "gate_score": float(last["score"]),
            "gate_threshold": float(last["threshold"]),
        }
    if row is None:
        return {}
    decided = row["status"] in (*PASSED, "failed")
    return {
        "gate_attempts": int(row["attempts"] or 0),
        "gate_passed": (row["status"] in PASSED) if decided else None,
        "gate_score": row["gate_score"],
        "gate_threshold": row["threshold"],
    }


def _phase(
    phase: str, ledger: pd.DataFrame, row: Mapping[str, Any] | None, extra: dict[str, float]
) -> PhaseMetrics:
    mine = ledger[ledger["phase"] == phase] if len(ledger) else ledger
    tasks, costs, gates = (mine[mine["_type"] == t] for t in ("task", "cost", "gate"))
    duration = None
    if row and row["started_at"] is not None and row["finished_at"] is not None:
        duration = round(row["finished_at"] - row["started_at"], 3)
    return PhaseMetrics(
        phase=phase,
        status=row["status"] if row else None,
        duration_seconds=duration,
        tasks_succeeded=int((tasks["status"] == "succeeded").sum()),
        tasks_failed=int((tasks["status"] == "failed").sum()),
        tool_minutes=round(float(tasks["tool_seconds"].fillna(0).sum()) / 60, 4),
        extra=extra,
        **_usage(tasks, costs),
        **_gate(gates, row),
    )


def run_metrics(db: Database, run_id: str, *, recent_runs: int = 20) -> RunMetrics:
    """Every metric of a run (see the module docstring for the fields read)."""
    ledger = _ledger_frame(db, run_id)
    phase_rows = {r["phase"]: r for r in _rows(db, PhaseRow, run_id)}
    extras: dict[str, dict[str, float]] = {}
    for r in _rows(db, PhaseMetricRow, run_id):
        extras.setdefault(r["phase"], {})[r["name"]] = r["value"]
    run = next(iter(_rows(db, RunRow, run_id)), None)
    planned = list(run["phases"]) if run and run["phases"] else []
    seen = [p for p in ledger["phase"].dropna().unique()] if len(ledger) else []
    order = list(dict.fromkeys([*planned, *phase_rows, *seen, *extras]))
    phases = [_phase(p, ledger, phase_rows.get(p), extras.get(p, {})) for p in order]
    gates = ledger[ledger["_type"] == "gate"] if len(ledger) else ledger
    if len(gates):
        evaluations, passed_evals = len(gates), int(gates["passed"].astype(bool).sum())
    else:
        decided = [p for p in phases if p.gate_passed is not None]
        evaluations, passed_evals = len(decided), sum(1 for p in decided if p.gate_passed)
    starts = [r["started_at"] for r in phase_rows.values() if r["started_at"] is not None]
    ends = [r["finished_at"] for r in phase_rows.values() if r["finished_at"] is not None]
    p95, covered = p95_phase_seconds(db, recent_runs=recent_runs)
    passed = sum(1 for p in phases if p.gate_passed or p.status in PASSED)
    return RunMetrics(
        run_id=run_id,
        phases=phases,
        planned_phases=len(planned or order),
        phases_passed=passed,
        completion_rate=round(passed / len(planned or order), 4) if (planned or order) else 0.0,
        gate_evaluations=evaluations,
        gate_pass_rate=round(passed_evals / evaluations, 4) if evaluations else None,
        cost_usd=round(sum(p.cost_usd for p in phases), 6),
        tokens_in=sum(p.tokens_in for p in phases),
        tokens_out=sum(p.tokens_out for p in phases),
        tool_minutes=round(sum(p.tool_minutes for p in phases), 4),
        tasks_succeeded=sum(p.tasks_succeeded for p in phases),
        tasks_failed=sum(p.tasks_failed for p in phases),
        duration_seconds=round(max(ends) - min(starts), 3) if starts and ends else None,
        p95_phase_seconds=p95,
        recent_runs=covered,
    )


def phase_metrics(db: Database, run_id: str, phase: str) -> dict[str, float]:
    """One phase's metrics as a flat ``name → float`` dict (for Dagster materialization metadata)."""
    for metrics in run_metrics(db, run_id, recent_runs=0).phases:
        if metrics.phase == phase:
            return metrics.flat()
    return {}


def p95_phase_seconds(db: Database, *, recent_runs: int = 20) -> tuple[dict[str, float], int]:
    """95th percentile of each phase's duration over the `recent_runs` most recently started runs."""
    if recent_runs <= 0:
        return {}, 0
    latest = sa.func.max(PhaseRow.started_at).label("latest")
    recent = (
        sa.select(PhaseRow.run_id, latest)
        .group_by(PhaseRow.run_id)
        .order_by(latest.desc())
        .limit(recent_runs)
        .subquery()
    )
    query = sa.select(PhaseRow.run_id, PhaseRow.phase, PhaseRow.started_at, PhaseRow.finished_at).where(
        PhaseRow.run_id.in_(sa.select(recent.c.run_id)),
        PhaseRow.started_at.is_not(None),
        PhaseRow.finished_at.is_not(None),
    )
    rows = db.read_with_retry(lambda conn: conn.execute(query).all())
    if not rows:
        return {}, 0
    frame = pd.DataFrame(rows, columns=["run_id", "phase", "started_at", "finished_at"])
    frame["seconds"] = frame["finished_at"] - frame["started_at"]
    p95 = frame.groupby("phase")["seconds"].quantile(0.95).round(3)
    return {str(k): float(v) for k, v in p95.items()}, int(frame["run_id"].nunique())


def save_phase_metrics(
    db: Database, run_id: str, phase: str, values: Mapping[str, float], *, ts: float | None = None
) -> None:
    """Upsert named numbers into ``phase_metrics`` (idempotent by run, phase and name)."""
    if not values:
        return
    module = postgresql if db.dialect == "postgresql" else sqlite
    stmt = module.insert(PhaseMetricRow.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "phase", "name"],
        set_={"value": stmt.excluded.value, "ts": stmt.excluded.ts},
    )
    now = time.time() if ts is None else ts
    rows = [
        {"run_id": run_id, "phase": phase, "name": k, "value": float(v), "ts": now} for k, v in values.items()
    ]
    db.write(lambda conn: conn.execute(stmt, rows))
