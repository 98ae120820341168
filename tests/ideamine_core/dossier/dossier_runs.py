"""The real runs the dossier tests read (shared with the end-to-end tests, see tests/cli_runs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cli_runs

from ideamine_core.storage.run_store import RunStore


def full_run() -> tuple[Path, str]:
    """(runs folder, run id) of a complete 13-phase offline run. Treat it as read-only."""
    run = cli_runs.full_run()
    return run.runs, run.run_id


def partial_run() -> tuple[Path, str]:
    """(runs folder, run id) of a partial run: intake → prd only. Treat it as read-only."""
    run = cli_runs.partial_run()
    return run.runs, run.run_id


def copy_of_full_run(tmp_path: Path) -> tuple[RunStore, str]:
    """A private, editable copy of the full run under `tmp_path`."""
    runs, run_id = full_run()
    shutil.copytree(runs / run_id, tmp_path / "runs" / run_id)
    return RunStore(tmp_path / "runs"), run_id
