"""RELIABILITY 13 on the pipeline: PostgreSQL connections killed under a running pipeline cost nothing.

A run of intake → ideation → critique with DATABASE_URL on a fresh PostgreSQL schema (its connections tagged
with their own `application_name`) executes in process while a background thread terminates every
one of those connections (`pg_terminate_backend`) every 0.05 s until it has killed some 6 times or the
run ends (the run's connections are short-lived: most checks find none open). Expected: the run
completes, no task fails (no failed task entry, no failed Dagster step), no ledger entry is
duplicated (one succeeded task entry per agent) and the ledger verifies. Only this test's backends
are terminated: other sessions on the shared server are left alone.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid

import dagster as dg
import pipeline_chaos as pc
import pytest
import sqlalchemy as sa
from support import PG_URL

from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

PHASES = ["intake", "ideation", "critique"]


def _killer(app: str, stop: threading.Event, kills: list[int]) -> None:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    query = sa.text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = :app AND pid <> pg_backend_pid()"
    )
    try:
        while not stop.wait(0.05) and len([k for k in kills if k]) < 6:
            with admin.connect() as conn:
                kills.append(int(conn.execute(query, {"app": app}).scalar_one()))
    finally:
        admin.dispose()


def test_a_run_survives_its_connections_being_killed(
    pg_url: str, settings: Settings, instance: dg.DagsterInstance
) -> None:
    app = f"ideamine-chaos-{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}&application_name={app}"
    Database(url).setup()
    on_pg = settings.model_copy(update={"database_url": url})
    stop, kills = threading.Event(), []
    killer = threading.Thread(target=_killer, args=(app, stop, kills))
    started = time.perf_counter()
    killer.start()
    try:
        run_id, result = pc.run_in_process(on_pg, instance, PHASES)
    finally:
        stop.set()
        killer.join()
    seconds = time.perf_counter() - started
    db = Runtime.of(on_pg).db
    ledger = Runtime.of(on_pg).ledger
    tasks = [e.data for e in ledger.entries(run_id) if e.type == "task"]
    failed_tasks = [t for t in tasks if t["status"] != "succeeded"]
    failed_steps = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    per_task = collections.Counter((t["phase"], t["agent"], t["iteration"]) for t in tasks)
    duplicated = sum(n - 1 for n in per_task.values())
    print(
        f"\nRELIABILITY 13: kill_events={len(kills)} backends_killed={sum(kills)} "
        f"run_success={result.success} "
        f"failed_tasks={len(failed_tasks)} failed_steps={len(failed_steps)} duplicated_entries={duplicated} "
        f"retries_absorbed={db.retries_absorbed} seconds={seconds:.1f}"
    )
    assert sum(kills) >= 2 and len([k for k in kills if k]) >= 2, kills  # really killed, more than once
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert failed_tasks == [] and failed_steps == [] and duplicated == 0
    assert ledger.verify(run_id).ok
