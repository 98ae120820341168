"""RELIABILITY test 15 helpers: count the database retries of every process of a CLI run, and look for
"database is locked" where a user would see it (the CLI's output, the run's Dagster event log).

`Database.write` absorbs a transient error by retrying and logs each retry at DEBUG on
`ideamine_core.storage.database`. A `sitecustomize` module on the child's PYTHONPATH sends that
logger (and nothing else) to a file in every process of the run: the CLI, the forkserver and each
step process of the multiprocess executor. Nothing reaches the user's terminal from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import serialize_value
from support import ideamine

LOCKED = "database is locked"
IDEA = "Build a collaborative todo app with real-time sync"
RETRY_LINE = "retrying a database operation"

SITECUSTOMIZE = """\
import logging
_handler = logging.FileHandler({path!r})
_handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
_logger = logging.getLogger("ideamine_core.storage.database")
_logger.addHandler(_handler)
_logger.setLevel(logging.DEBUG)
_logger.propagate = False
_handler.emit(_logger.makeRecord(_logger.name, logging.INFO, __file__, 0, "probe loaded", None, None))
"""


class RetryProbe:
    """A PYTHONPATH folder whose sitecustomize logs every absorbed database retry to `log`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "db-retries.log"
        (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(path=str(self.log)))
        self.env = {"PYTHONPATH": str(folder)}

    def _lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def retries(self) -> int:
        """Retries absorbed so far, over every process."""
        return sum(RETRY_LINE in line for line in self._lines())

    def processes(self) -> int:
        """Interpreters that loaded the probe (processes forked from one of them inherit it)."""
        return len({line.split()[0] for line in self._lines() if line.endswith("probe loaded")})


def dagster_event_texts(dagster_home: Path, dagster_run_id: str) -> list[str]:
    """Every event of a Dagster run, serialized (messages, errors and their causes included)."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        return [serialize_value(record) for record in instance.all_logs(dagster_run_id)]


def locked_errors(texts: list[str]) -> list[str]:
    """The texts that mention a locked database (case-insensitive)."""
    return [t for t in texts if LOCKED in t.lower()]


@dataclass
class ContentionRun:
    """The figures of one `ideamine run --executor multiprocess` on a fresh embedded home."""

    returncode: int
    output: str
    seconds: float
    locked_in_output: int
    locked_in_event_log: list[str]
    step_failures: int
    steps: int
    retries: int
    processes: int
    entries: int
    ledger_ok: bool

    def line(self) -> str:
        """One line of figures."""
        return (
            f"'database is locked' in CLI output: {self.locked_in_output}, in the Dagster event log: "
            f"{len(self.locked_in_event_log)}; step failures {self.step_failures}; retries absorbed: "
            f"{self.retries} in {self.processes} processes; steps {self.steps}; "
            f"ledger {self.entries} entries in {self.seconds:.1f}s "
            f"= {self.entries / self.seconds:.1f} entries/s"
        )


def run_multiprocess(folder: Path, phases: list[str] | None = None, timeout: float = 280) -> ContentionRun:
    """Run the idea through the CLI under the multiprocess executor on SQLite and collect the figures."""
    from ideamine_core.ledger import Ledger
    from ideamine_core.storage.database import Database

    home, probe = folder / "home", RetryProbe(folder / "probe")
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
    args += ["--phases", ",".join(phases)] if phases else []
    started = time.perf_counter()
    proc = ideamine(home, *args, timeout=timeout, extra_env=probe.env)
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return ContentionRun(
            proc.returncode, output, seconds, output.lower().count(LOCKED), [], 0, 0, 0, 0, 0, False
        )
    run_id = Path(proc.stdout.split("artifacts: ")[1].split()[0]).parent.name
    events = dagster_event_texts(home / "dagster", proc.stdout.split("dagster run: ")[1].split()[0])
    ledger = Ledger(Database(f"sqlite:///{home / 'ideamine.db'}"))
    return ContentionRun(
        returncode=0,
        output=output,
        seconds=seconds,
        locked_in_output=output.lower().count(LOCKED),
        locked_in_event_log=locked_errors(events),
        step_failures=sum('"STEP_FAILURE"' in e for e in events),
        steps=sum('"STEP_SUCCESS"' in e for e in events),
        retries=probe.retries(),
        processes=probe.processes(),
        entries=len(ledger.entries(run_id)),
        ledger_ok=ledger.verify(run_id).ok,
    )
