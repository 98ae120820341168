"""RELIABILITY test 15 on the real pipeline: `ideamine run` on the embedded SQLite default under the
multiprocess executor (every step its own process; ideation's four agents and critique's three run
in parallel, writing the ledger, events, heartbeats and metrics to one SQLite file,
next to Dagster's own SQLite storage).

No "database is locked" error may reach the user: not in the CLI's output, not in the run's Dagster
event log (step failures, retries, engine errors). The retries `Database.write` absorbed are counted
in every process (see sqlite_probe.py) and reported with the ledger throughput. Here intake →
ideation → critique; five full 13-phase runs from `python bench/sqlite_contention.py`. The same
checks on the default threadpool executor ride on the full run of tests/e2e/test_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_probe import run_multiprocess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PHASES = ["intake", "ideation", "critique"]


def test_multiprocess_run_on_sqlite_shows_no_locked_database(tmp_path: Path) -> None:
    run = run_multiprocess(tmp_path, PHASES)
    assert run.returncode == 0, run.output[-3000:]
    print(f"\n[test15 multiprocess, {len(PHASES)} phases] {run.line()}")
    assert run.locked_in_output == 0 and run.locked_in_event_log == []
    assert run.step_failures == 0
    assert run.steps >= 15 and run.ledger_ok  # every step of the three phases ran as its own process
    assert run.processes >= 2  # the CLI and the forkserver its step processes are forked from
