"""RELIABILITY 8 at library level, on SQLite and PostgreSQL: heartbeat interval 0.2 s, N = 3. A worker
frozen by SIGSTOP and an agent that blocks forever are each detected within (N + 1) · h, with exactly
one stall decision (one `phase.stalled`, one `task.retry` carrying "retry_from_checkpoint"), while a
healthy worker running beside them gets none."""

from __future__ import annotations

from pathlib import Path

import pytest
from resilience_scenarios import stall_detection

from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.exclusive, pytest.mark.timeout(120)]


def test_stalls_are_detected_once_within_n_plus_one_intervals(db: Database, tmp_path: Path) -> None:
    figures = stall_detection(db.url, tmp_path, interval=0.2, threshold=3)
    print(f"\nRELIABILITY 8 ({db.dialect}): {figures}")
    for task in ("stopped", "blocked"):
        assert figures[f"{task}_decisions"] == 1
        assert figures[f"{task}_latency_s"] <= figures["bound_s"]
        assert figures[f"{task}_stalled_events"] == 1
        assert figures[f"{task}_retry_strategy"] == ["retry_from_checkpoint"]
    assert figures["false_stalls"] == 0
    assert figures["tick_errors"] == 0
