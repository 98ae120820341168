"""`ideamine` as a user runs it (a subprocess on a temporary home), and the real runs several test
modules read: made once per test session (by the first pytest-xdist worker that needs one, the others
wait for it under a file lock and reuse it), treated as read-only.

Plain cached functions rather than session fixtures in a conftest.py: a second `conftest` module
would shadow the root one that other test modules import from (`from support import DEMO`).
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlite_probe import RetryProbe
from support import ideamine

from ideamine_core.storage.run_store import RunStore

IDEA = "Build a collaborative todo app with real-time sync"
ARGS = ["--users", "remote teams", "--constraint", "mobile-first", "--constraint", "offline-capable"]


@dataclass(frozen=True)
class CliRun:
    """A finished `ideamine run`: its home, run id, process output and wall time."""

    home: Path
    run_id: str
    proc: subprocess.CompletedProcess
    seconds: float
    probe: RetryProbe

    @property
    def runs(self) -> Path:
        """The home's runs folder."""
        return self.home / "runs"


_ROOT: Path | None = None


def configure(root: Path) -> None:
    """Keep the shared runs under `root` (the session folder all workers see)."""
    global _ROOT
    _ROOT = root


def _root() -> Path:
    global _ROOT
    if _ROOT is None:  # outside pytest's session fixture: a private folder removed at exit
        _ROOT = Path(tempfile.mkdtemp(prefix="ideamine-cli-runs-"))
        atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
    _ROOT.mkdir(parents=True, exist_ok=True)
    return _ROOT


def _run(name: str, *args: str) -> CliRun:
    folder = _root() / name
    with open(_root() / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = folder / "run.json"
        home, probe = folder / "home", RetryProbe(folder / "probe")
        if not done.exists():
            started = time.perf_counter()
            proc = ideamine(home, "run", IDEA, *ARGS, *args, timeout=300, extra_env=probe.env)
            seconds = time.perf_counter() - started
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            (run,) = RunStore(home / "runs").list_runs()
            figures = {"run_id": run.run_id, "args": proc.args, "stdout": proc.stdout, "stderr": proc.stderr}
            done.write_text(json.dumps(figures | {"seconds": seconds}))
        made = json.loads(done.read_text())
    proc = subprocess.CompletedProcess(made["args"], 0, made["stdout"], made["stderr"])
    return CliRun(home, made["run_id"], proc, made["seconds"], probe)


@functools.cache
def full_run() -> CliRun:
    """All 13 phases on the default (threadpool) executor, the database retries of every process counted."""
    return _run("full")


@functools.cache
def partial_run() -> CliRun:
    """intake → prd only, one step at a time."""
    return _run("partial", "--phases", "intake,ideation,critique,prd", "--executor", "in_process")
