"""RELIABILITY 10 at library level: heartbeats in a throwaway redis-server that is killed for a few
seconds mid-run and restarted empty. No task is declared stalled (beats fall back to the database, the
supervisor judges on database data with its lag allowance, then gives Redis a grace period); a real
stall after the restart is still found; the supervisor never crashes. With Redis down at start the
store either refuses with a clear error (no password shown) or falls back to the database, as
configured, every time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from resilience_scenarios import redis_outage

from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.exclusive, pytest.mark.timeout(120)]


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (.ci/run installs it)"
)
def test_a_redis_restart_does_not_look_like_every_task_stalling(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    db.setup()
    figures = redis_outage(db.url, tmp_path, down_seconds=3.0)
    print(f"\nRELIABILITY 10: {figures}")
    assert figures["false_stall_escalations"] == 0
    assert figures["tick_errors"] == 0
    assert figures["beats_to_database_while_down"] > 0
    assert figures["keys_restored_after_restart"] >= 2
    assert figures["real_stall_after_restart_latency_s"] is not None
    assert figures["down_at_start_clear_error"] == "5/5"
    assert figures["down_at_start_database_fallback"] == "5/5"
