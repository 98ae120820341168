"""RELIABILITY 9 at library level, on SQLite and PostgreSQL: worker A is SIGSTOPped past its lease, the
supervisor fences it out and the task restarts as B; when A wakes, none of its writes (heartbeat,
checkpoint, ledger entry) is accepted, its rejections name its stale token, B's checkpoint stands and
the ledger chain verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from resilience_scenarios import zombie_fencing

from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


def test_a_woken_zombie_cannot_write(db: Database, tmp_path: Path) -> None:
    figures = zombie_fencing(db.url, tmp_path)
    print(f"\nRELIABILITY 9 ({db.dialect}): {figures}")
    assert figures["stall_decisions"] == 1
    assert figures["writes_accepted_from_a_after_takeover"] == 0
    assert figures["rejections_logged"]
    assert all(
        token == figures["a_token"] and current > token for _, token, current in figures["rejections_logged"]
    )
    assert figures["checkpoint_owner"] == "B"
    assert figures["ledger_valid"]
