"""RELIABILITY test 15 on the real pipeline: a full `ideamine run` on the embedded SQLite default under
the multiprocess executor (every step its own process, parallel phases and agents writing the ledger,
events, heartbeats, checkpoints and metrics to one SQLite file, next to Dagster's own SQLite storage).

No "database is locked" error may reach the user: not in the CLI's output, not in the run's Dagster
event log (step failures, retries, engine errors). The retries `Database.write` absorbed are counted
in every process (see sqlite_probe.py) and reported with the ledger throughput. The same checks on
the default threadpool executor ride on the full run of tests/e2e/test_cli.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_probe import LOCKED, RetryProbe, dagster_event_texts, locked_errors

from ideamine_core.ledger import Ledger
from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
IDEA = "Build a collaborative todo app with real-time sync"


def test_full_multiprocess_run_on_sqlite_shows_no_locked_database(tmp_path: Path) -> None:
    home, probe = tmp_path / "home", RetryProbe(tmp_path / "probe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    env |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | probe.env
    args = [
        "run",
        IDEA,
        "--users",
        "remote teams",
        "--constraint",
        "offline-capable",
        "--executor",
        "multiprocess",
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    run_id = Path(proc.stdout.split("artifacts: ")[1].split()[0]).parent.name
    dagster_run_id = proc.stdout.split("dagster run: ")[1].split()[0]
    events = dagster_event_texts(home / "dagster", dagster_run_id)
    steps = sum('"STEP_SUCCESS"' in e for e in events)
    ledger = Ledger(Database(f"sqlite:///{home / 'ideamine.db'}"))
    entries = len(ledger.entries(run_id))
    print(
        f"\n[test15 multiprocess] 'database is locked' in CLI output: {output.lower().count(LOCKED)}, "
        f"in the Dagster event log: {len(locked_errors(events))}; retries absorbed: {probe.retries()}; "
        f"steps {steps}; ledger {entries} entries in {seconds:.1f}s = {entries / seconds:.1f} entries/s"
    )
    assert LOCKED not in output.lower()
    assert locked_errors(events) == []
    assert not [e for e in events if '"STEP_FAILURE"' in e]
    assert steps >= 60 and ledger.verify(run_id).ok  # every step of the 13 phases ran as its own process
    assert probe.processes() >= 2  # the CLI and the forkserver its step processes are forked from
