"""SQL reports and retention on SQLite and PostgreSQL.

Contract: phase performance aggregates the phases table; cost breakdown sums a run's cost entries per
phase, agent and model (cache hits are not billed calls); gate history lists evaluations newest first;
recent runs carry phases passed and ledger cost; active tasks report heartbeat health; retention
deletes old events, checkpoints and phase metrics and never touches the ledger.
"""

from __future__ import annotations

import sqlalchemy as sa

from ideamine_core.events import DatabaseEventSink, Event, load_events
from ideamine_core.ledger import CostPayload, GatePayload, Ledger
from ideamine_core.metrics import save_phase_metrics
from ideamine_core.storage import reporting
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import CheckpointRow, HeartbeatRow, PhaseRow, RunRow, TaskRow

DAY = 86_400.0
NOW = 100 * DAY


def seed(db: Database) -> Ledger:
    with db.write_once() as conn:
        for run, created in (("r1", 1.0), ("r2", 2.0)):
            conn.execute(
                sa.insert(RunRow).values(
                    run_id=run, idea="i", submission={}, phases=[], created_at=created, updated_at=created
                )
            )
        for run, phase, status, secs in (
            ("r1", "intake", "passed", 10),
            ("r2", "intake", "failed", 30),
            ("r1", "prd", "passed", 5),
        ):
            conn.execute(
                sa.insert(PhaseRow).values(
                    run_id=run,
                    phase=phase,
                    status=status,
                    started_at=0.0,
                    finished_at=float(secs),
                    attempts=1,
                )
            )
    ledger = Ledger(db, signer=None)
    for i, (agent, cached) in enumerate((("A", False), ("A", True), ("B", False))):
        ledger.record(
            "r1",
            CostPayload(
                phase="prd",
                agent=agent,
                provider="openai",
                model="m",
                request_hash=f"h{i}",
                tokens_in=100,
                tokens_out=10,
                cost_usd=0.0 if cached else 0.5,
                cached=cached,
            ),
        )
    ledger.record("r1", GatePayload(phase="prd", attempt=1, score=0.5, threshold=0.7, passed=False))
    ledger.record("r1", GatePayload(phase="prd", attempt=2, score=0.8, threshold=0.7, passed=True))
    return ledger


def test_phase_performance_and_recent_runs(db: Database) -> None:
    seed(db)
    perf = {r["phase"]: r for r in reporting.phase_performance(db)}
    assert perf["intake"]["runs"] == 2 and perf["intake"]["mean_seconds"] == 20.0
    assert perf["intake"]["max_seconds"] == 30.0 and perf["intake"]["pass_rate"] == 0.5
    runs = reporting.recent_runs(db)
    assert [r["run_id"] for r in runs] == ["r2", "r1"]
    assert runs[1]["phases_passed"] == 2 and runs[1]["cost_usd"] == 1.0 and runs[0]["cost_usd"] == 0.0


def test_cost_breakdown_and_gate_history(db: Database) -> None:
    seed(db)
    costs = reporting.cost_breakdown(db, "r1")
    assert [(r["agent"], r["calls"], r["tokens_in"], r["cost_usd"]) for r in costs] == [
        ("A", 1, 200.0, 0.5),  # one billed call and one cache hit
        ("B", 1, 100.0, 0.5),
    ]
    gates = reporting.gate_history(db, run_id="r1")
    assert [(g["attempt"], g["passed"], g["score"]) for g in gates] == [(2.0, True, 0.8), (1.0, False, 0.5)]


def test_active_tasks_report_heartbeat_health(db: Database) -> None:
    with db.write_once() as conn:
        for task, status, beat in (
            ("t-ok", "running", NOW - 1),
            ("t-late", "running", NOW - 4),
            ("t-dead", "running", NOW - 30),
            ("t-done", "succeeded", NOW),
        ):
            conn.execute(
                sa.insert(TaskRow).values(task_id=task, run_id="r", phase="p", agent="A", status=status)
            )
            conn.execute(
                sa.insert(HeartbeatRow).values(
                    task_id=task,
                    run_id="r",
                    phase="p",
                    owner="w",
                    fencing_token=1,
                    beat_at=beat,
                    interval_seconds=2.0,
                )
            )
    health = {r["task_id"]: r["heartbeat"] for r in reporting.active_tasks(db, now=NOW)}
    assert health == {"t-ok": "healthy", "t-late": "late", "t-dead": "stalled"}


def test_retention_deletes_old_rows_but_never_the_ledger(db: Database) -> None:
    ledger = seed(db)
    sink = DatabaseEventSink(db)
    for i, age_days in enumerate((40, 31, 5)):
        sink(Event(type="phase.progress", run_id="r1", ts=NOW - age_days * DAY, data={"i": i}))
    with db.write_once() as conn:
        for i, age_days in enumerate((45, 1)):
            conn.execute(
                sa.insert(CheckpointRow).values(
                    task_id=f"t{i}", run_id="r1", token="x", data={}, created_at=NOW - age_days * DAY
                )
            )
    save_phase_metrics(db, "r1", "prd", {"old": 1.0}, ts=NOW - 60 * DAY)
    save_phase_metrics(db, "r1", "prd", {"new": 1.0}, ts=NOW)
    before = len(ledger.entries("r1"))
    purged = reporting.purge_old(db, 30, now=NOW)
    assert purged == {"events": 2, "checkpoints": 1, "phase_metrics": 1}
    assert [e.data["i"] for _, e in load_events(db, "r1")] == [2]
    assert len(ledger.entries("r1")) == before and ledger.verify("r1").ok
    assert reporting.purge_old(db, 30, now=NOW) == {"events": 0, "checkpoints": 0, "phase_metrics": 0}
