"""Maintenance jobs: retention deletes only old events/checkpoints/metrics (never the ledger) and the
daily summary lists the day's runs; both are scheduled daily and on by default."""

from __future__ import annotations

import time

import sqlalchemy as sa

from ideamine_core.ledger import DecisionPayload, Ledger
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.tables import EventRow, LedgerRow, RunRow
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.maintenance import daily_summary_job, retention_job

DAY = 86_400


def test_retention_deletes_old_events_but_keeps_new_ones_and_the_ledger(settings: Settings, instance) -> None:
    db = open_database(settings.db_url, embedded=True)
    now = time.time()
    rows = [
        {"event_id": f"e{i}", "run_id": "r1", "type": "phase.started", "ts": now - age * DAY, "data": {}}
        for i, age in enumerate([90, 45, 1, 0])
    ]
    db.write(lambda conn: conn.execute(sa.insert(EventRow), rows))
    Ledger(db).record("r1", DecisionPayload(kind="note", reason="kept forever"), key="k1")
    defs = build_definitions(settings)
    result = retention_job.execute_in_process(instance=instance, resources=defs.resources)
    assert result.success
    assert result.output_for_node("purge_old_records")["events"] == 2
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EventRow)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(LedgerRow)).scalar_one() == 1


def test_daily_summary_lists_the_days_runs(settings: Settings, instance) -> None:
    db = open_database(settings.db_url, embedded=True)
    now = time.time()
    row = {
        "run_id": "todo-app-1",
        "idea": "Build a todo app",
        "submission": {"idea": "Build a todo app"},
        "phases": ["intake"],
        "status": "passed",
        "model": "offline",
        "created_at": now - 3600,
        "updated_at": now,
        "dagster_run_ids": [],
        "detail": "",
    }
    db.write(lambda conn: conn.execute(sa.insert(RunRow), [row]))
    resources = build_definitions(settings).resources
    result = daily_summary_job.execute_in_process(instance=instance, resources=resources)
    path = result.output_for_node("write_daily_summary")
    text = open(path, encoding="utf-8").read()
    assert "todo-app-1" in text and "1 run(s)" in text


def test_schedules_are_daily_and_running(settings: Settings) -> None:
    defs = build_definitions(settings)
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"retention_daily", "daily_summary"}
    for schedule in schedules.values():
        assert schedule.cron_schedule.split()[2:] == ["*", "*", "*"]
        assert schedule.default_status.value == "RUNNING"
