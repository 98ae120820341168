"""RELIABILITY 3 at library level, on SQLite and PostgreSQL: a long task writes each step's result (a
ledger entry) before advancing its checkpoint. With an 80 ms delay injected on the result write or on
the checkpoint write, and a SIGKILL between the two writes or inside the checkpoint write, the task
resumed in a new process re-executes no step whose result was already durable, duplicates no ledger
entry, completes with the right state, and the ledger verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from resilience_scenarios import checkpoint_race

from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("backend", "interleaving", "kill_after"),
    [
        # the result write is slow; killed after it committed, before the checkpoint
        ("sqlite", "result_delayed", 3),
        # the checkpoint write is slow; killed inside it (PostgreSQL; the bench runs every combination)
        ("postgresql", "checkpoint_delayed", 4),
    ],
)
def test_no_durable_step_is_re_executed(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, interleaving: str, kill_after: int
) -> None:
    db = Database(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    db.setup()
    figures = checkpoint_race(db.url, tmp_path, interleaving=interleaving, kill_after=kill_after)
    db.dispose()
    print(f"\nRELIABILITY 3 ({backend}, {interleaving}): {figures}")
    assert figures["killed"]
    assert figures["recovered_without_rerun"]  # the crash left a durable result behind the pointer
    assert figures["durable_steps_re_executed"] == 0
    assert figures["duplicate_ledger_entries"] == 0
    assert figures["completed"] and figures["ledger_valid"]
