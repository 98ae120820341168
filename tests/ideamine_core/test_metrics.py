"""Metrics from the ledger and phase tables, on SQLite and PostgreSQL.

Contract: per phase — duration from the phases table, gate attempts and outcome from the last gate
entry, task successes/failures, tokens and cost from cost entries when present (else task entries,
never both), tool minutes; per run — totals, completion rate against the planned phases, gate pass
rate over every evaluation, p95 phase duration over recent runs; a phase's metrics as a flat dict;
phase_metrics rows are upserted and included.
"""

from __future__ import annotations

import sqlalchemy as sa

from ideamine_core.ledger import CostPayload, GatePayload, Ledger, TaskPayload
from ideamine_core.metrics import p95_phase_seconds, phase_metrics, run_metrics, save_phase_metrics
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import PhaseRow, RunRow


def add_phase(db: Database, run_id: str, phase: str, status: str, start: float, seconds: float) -> None:
    with db.write_once() as conn:
        conn.execute(
            sa.insert(PhaseRow).values(
                run_id=run_id, phase=phase, status=status, started_at=start, finished_at=start + seconds
            )
        )


def seed_run(db: Database, run_id: str = "r1") -> None:
    with db.write_once() as conn:
        conn.execute(
            sa.insert(RunRow).values(
                run_id=run_id,
                idea="i",
                submission={},
                phases=["intake", "prd", "qa"],
                created_at=1.0,
                updated_at=1.0,
            )
        )
    add_phase(db, run_id, "intake", "passed", 100.0, 12.0)
    add_phase(db, run_id, "prd", "failed", 120.0, 30.0)
    ledger = Ledger(db, signer=None)
    # intake: tasks carry tokens/cost and no cost entries exist → taken from the tasks
    ledger.record(
        run_id,
        TaskPayload(phase="intake", agent="A", status="succeeded", tokens_in=10, tokens_out=5, cost_usd=0.01),
    )
    ledger.record(run_id, TaskPayload(phase="intake", agent="B", status="failed", tool_seconds=30.0))
    ledger.record(
        run_id, TaskPayload(phase="intake", agent="B", status="succeeded", attempt=2, tool_seconds=90.0)
    )
    ledger.record(run_id, GatePayload(phase="intake", attempt=1, score=0.9, threshold=0.7, passed=True))
    # prd: cost entries exist → tokens and cost come from them only
    ledger.record(
        run_id, TaskPayload(phase="prd", agent="C", status="succeeded", tokens_in=999, cost_usd=9.9)
    )
    ledger.record(
        run_id,
        CostPayload(
            phase="prd",
            agent="C",
            provider="openai",
            model="m",
            request_hash="h1",
            tokens_in=100,
            tokens_out=50,
            cost_usd=0.2,
        ),
    )
    ledger.record(
        run_id,
        CostPayload(
            phase="prd", agent="C", provider="openai", model="m", request_hash="h2", tokens_in=7, cached=True
        ),
    )
    ledger.record(run_id, GatePayload(phase="prd", attempt=1, score=0.4, threshold=0.7, passed=False))
    ledger.record(run_id, GatePayload(phase="prd", attempt=2, score=0.6, threshold=0.7, passed=False))


def test_run_metrics_from_ledger_and_phase_tables(db: Database) -> None:
    seed_run(db)
    m = run_metrics(db, "r1")
    by = {p.phase: p for p in m.phases}
    assert list(by) == ["intake", "prd", "qa"]
    intake, prd, qa = by["intake"], by["prd"], by["qa"]
    assert (intake.duration_seconds, intake.gate_attempts, intake.gate_passed) == (12.0, 1, True)
    assert (intake.tasks_succeeded, intake.tasks_failed, intake.tool_minutes) == (2, 1, 2.0)
    assert (intake.tokens_in, intake.tokens_out, intake.cost_usd) == (10, 5, 0.01)
    assert (prd.tokens_in, prd.tokens_out, prd.cost_usd, prd.model_calls) == (107, 50, 0.2, 1)
    assert (prd.gate_attempts, prd.gate_passed, prd.gate_score) == (2, False, 0.6)
    assert qa.status is None and qa.gate_passed is None
    assert (m.planned_phases, m.phases_passed, m.completion_rate) == (3, 1, round(1 / 3, 4))
    assert (m.gate_evaluations, m.gate_pass_rate) == (3, round(1 / 3, 4))
    assert (m.cost_usd, m.tokens_in, m.tasks_failed) == (0.21, 117, 1)
    assert m.duration_seconds == 50.0
    print(
        f"\n[metrics {db.dialect}] cost {m.cost_usd} completion {m.completion_rate} "
        f"gate pass {m.gate_pass_rate}"
    )


def test_phase_metrics_flat_dict_includes_saved_samples(db: Database) -> None:
    seed_run(db)
    save_phase_metrics(db, "r1", "intake", {"coverage": 0.5, "findings": 3})
    save_phase_metrics(db, "r1", "intake", {"coverage": 0.8})  # upsert, not a second row
    flat = phase_metrics(db, "r1", "intake")
    assert flat["coverage"] == 0.8 and flat["findings"] == 3.0
    assert flat["duration_seconds"] == 12.0 and flat["gate_passed"] == 1.0 and flat["cost_usd"] == 0.01
    assert all(isinstance(v, float) for v in flat.values())
    assert phase_metrics(db, "r1", "beta") == {}


def test_p95_phase_latency_over_recent_runs(db: Database) -> None:
    for i in range(20):
        add_phase(db, f"run-{i:02d}", "intake", "passed", 1000.0 + i, float(i + 1))
    p95, covered = p95_phase_seconds(db, recent_runs=10)
    assert covered == 10
    assert p95["intake"] == 19.55  # runs 10..19 last 11..20 s; linear-interpolated 95th percentile
    assert run_metrics(db, "empty").phases == []
