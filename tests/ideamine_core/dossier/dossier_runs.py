"""Real runs for the dossier tests: `ideamine run` on a temporary home, once per test session.

Plain cached functions rather than fixtures in a conftest.py: a second `conftest` module would shadow
the root one that other test modules import from (`from support import DEMO`).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ideamine_core.storage.run_store import RunStore

IDEA = "Build a collaborative todo app with real-time sync"


def ideamine_run(home: Path, *args: str) -> str:
    """Run `ideamine run IDEA … args` offline on `home`; the new run's id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_", "DATABASE_URL"))}
    env |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    argv = ["run", IDEA, "--users", "remote teams", "--constraint", "mobile-first", *args]
    proc = subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run,) = RunStore(home / "runs").list_runs()
    return run.run_id


def _home(name: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"ideamine-dossier-{name}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root / "home"


@functools.cache
def full_run() -> tuple[Path, str]:
    """(runs folder, run id) of a complete 13-phase offline run. Treat it as read-only."""
    home = _home("full")
    return home / "runs", ideamine_run(home, "--executor", "in_process")


@functools.cache
def partial_run() -> tuple[Path, str]:
    """(runs folder, run id) of a partial run: intake → prd only. Treat it as read-only."""
    home = _home("partial")
    phases = "intake,ideation,critique,prd"
    return home / "runs", ideamine_run(home, "--phases", phases, "--executor", "in_process")


def copy_of_full_run(tmp_path: Path) -> tuple[RunStore, str]:
    """A private, editable copy of the full run under `tmp_path`."""
    runs, run_id = full_run()
    shutil.copytree(runs / run_id, tmp_path / "runs" / run_id)
    return RunStore(tmp_path / "runs"), run_id
