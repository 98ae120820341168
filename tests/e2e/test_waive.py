"""`ideamine waive` as a user runs it records a waiver the gate's store sees; `ideamine waivers` lists it.

The mistakes (unknown phase or violation, unreadable or past expiry, bad run id) are covered
in-process by tests/ideamine_dagster/cli/test_waive_command.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ideamine

from ideamine_core.phase.waivers import WaiverStore
from ideamine_core.storage.database import Database

pytestmark = pytest.mark.e2e


def store(home: Path) -> WaiverStore:
    return WaiverStore(Database(f"sqlite:///{home / 'ideamine.db'}"))


def test_waive_records_a_waiver_the_gate_store_sees_and_waivers_lists_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = ideamine(
        home, "waive", "run-1", "prd", "contradictions",
        "--owner", "alice", "--reason", "accepted trade-off", "--expires", "7d",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "`contradictions` of prd in run run-1 may pass until" in proc.stdout
    assert "no run run-1" in proc.stdout  # a waiver may be recorded before the run exists
    recorded = store(home).list("run-1")
    assert [(w.phase, w.violation, w.owner, w.reason) for w in recorded] == [
        ("prd", "contradictions", "alice", "accepted trade-off")
    ]
    assert recorded[0].waiver_id in proc.stdout
    listed = ideamine(home, "waivers", "run-1")
    assert listed.returncode == 0 and "active" in listed.stdout and "alice" in listed.stdout
