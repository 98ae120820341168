"""RELIABILITY test 15 helpers: count the database retries of every process of a CLI run, and look for
"database is locked" where a user would see it (the CLI's output, the run's Dagster event log).

`Database.write` absorbs a transient error by retrying and logs each retry at DEBUG on
`ideamine_core.storage.database`. A `sitecustomize` module on the child's PYTHONPATH sends that
logger (and nothing else) to a file in every process of the run: the CLI, the forkserver and each
step process of the multiprocess executor. Nothing reaches the user's terminal from it.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import serialize_value

LOCKED = "database is locked"
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
