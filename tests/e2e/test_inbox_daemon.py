"""`ideamine submit` + `ideamine daemon`: a submitted idea becomes exactly one full run, with no prompts.

The daemon runs as a user starts it (a subprocess on a temporary home); the idea inbox sensor
picks the idea up and the run completes all phases. Submitting the same idea again adds nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import ideamine

pytestmark = pytest.mark.e2e


def _stop_tree(proc: subprocess.Popen) -> None:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    for child in children:
        if child.is_running():
            child.kill()


def test_submitted_idea_runs_once_through_the_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    idea = "Build a parts catalogue for bike mechanics"
    first = ideamine(home, "submit", idea, "--users", "mechanics")
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split("· run ")[1].split()[0]
    assert "already" in ideamine(home, "submit", idea, "--users", "mechanics").stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "DAGSTER_"))}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ideamine_dagster.cli", "daemon"],
        env=env | {"IDEAMINE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    beta = home / "runs" / run_id / "phases" / "beta.json"
    try:
        deadline = time.monotonic() + 150
        while not beta.exists() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        _stop_tree(daemon)
    assert beta.exists(), "the daemon did not complete the submitted idea's run"
    statuses = {p.stem: json.loads(p.read_text())["status"] for p in beta.parent.glob("*.json")}
    assert len(statuses) == 13 and set(statuses.values()) == {"passed"}
    assert [p.name for p in (home / "runs").iterdir()] == [run_id]
    record = json.loads((home / "runs" / run_id / "run.json").read_text())
    assert record["submission"]["users"] == ["mechanics"]
