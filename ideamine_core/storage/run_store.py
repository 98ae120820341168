"""The run folder: submission, phase artifacts (JSON + Markdown), phase records and events."""

from __future__ import annotations

import os
import re
import secrets
import socket
import tempfile
import time
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.artifact import EvidencePack, PhaseArtifact
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import StorageError, UserInputError
from ideamine_core.events import JsonlEventLog

_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")


class PhaseRecord(BaseModel):
    """A phase's status in one run, as the CLI summary shows it."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    status: str = Field(description="running, passed, failed or error.")
    started_at: float | None = None
    finished_at: float | None = None
    gate_score: float | None = None
    threshold: float | None = None
    attempts: int = 0
    artifacts: int = 0
    artifact_hash: str | None = None
    detail: str = ""

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, if both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class WorkerInfo(BaseModel):
    """The process that executes a run: enough to tell later whether it is still alive."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    host: str
    started_at: float = Field(description="The process's own start time (psutil create_time).")

    @classmethod
    def current(cls) -> WorkerInfo:
        """This process."""
        return cls(pid=os.getpid(), host=socket.gethostname(), started_at=psutil.Process().create_time())

    def is_alive(self) -> bool:
        """True if this process still runs (same pid, same start time) on this host."""
        if self.host != socket.gethostname():
            return True  # cannot tell from here; the supervisor's heartbeats decide
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started_at) < 1.0
        except psutil.Error:
            return False


class RunRecord(BaseModel):
    """What was asked of a run: the submission, the phases and when."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    submission: IdeaSubmission
    created_at: float
    phases: list[str]
    dagster_run_ids: list[str] = Field(default_factory=list)
    worker: WorkerInfo | None = Field(
        default=None, description="The process executing the run now (to notice when it died)."
    )


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """Files of every run under `<home>/runs/<run_id>/`."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir

    def check_writable(self) -> None:
        """Raise StorageError with a fix when the runs folder cannot be created or written."""
        probe = self.runs_dir / f".write-probe-{os.getpid()}"
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"cannot write to the IdeaMine home folder {self.runs_dir.parent} ({exc.strerror})",
                fix="set IDEAMINE_HOME to a folder you can write, e.g. IDEAMINE_HOME=~/.ideamine",
            ) from exc

    def new_run_id(self, submission: IdeaSubmission) -> str:
        """A fresh, readable run id: slug, UTC time and a random suffix."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return f"{submission.slug()}-{stamp}-{secrets.token_hex(2)}"

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run (validated id, so no path tricks)."""
        if not _RUN_ID.match(run_id):
            raise UserInputError(
                f"{run_id!r} is not a valid run id", fix="use an id shown by `ideamine status`"
            )
        return self.runs_dir / run_id

    def create(self, run_id: str, submission: IdeaSubmission, phases: list[str]) -> RunRecord:
        """Write the run record; the submission is stored before any phase runs."""
        record = RunRecord(run_id=run_id, submission=submission, created_at=time.time(), phases=phases)
        self.save_run(record)
        return record

    def save_run(self, record: RunRecord) -> None:
        """Persist a run record atomically."""
        atomic_write(self.run_dir(record.run_id) / "run.json", record.model_dump_json(indent=2))

    def load_run(self, run_id: str) -> RunRecord:
        """The run record; UserInputError if there is no such run."""
        path = self.run_dir(run_id) / "run.json"
        if not path.exists():
            raise UserInputError(
                f"no run {run_id!r} in {self.runs_dir}", fix="list runs with `ideamine status`"
            )
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))

    def list_runs(self) -> list[RunRecord]:
        """Every readable run, newest first."""
        records = []
        for path in self.runs_dir.glob("*/run.json"):
            try:
                records.append(RunRecord.model_validate_json(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def artifact_path(self, run_id: str, phase: str, suffix: str = ".json") -> Path:
        """Where a phase artifact lives."""
        return self.run_dir(run_id) / "artifacts" / f"{phase}{suffix}"

    def save_artifact(
        self, run_id: str, artifact: PhaseArtifact, markdown: str, name: str | None = None
    ) -> Path:
        """Persist an artifact as JSON and Markdown (named `name`, default its phase); returns the path."""
        path = self.artifact_path(run_id, name or artifact.phase)
        atomic_write(path.with_suffix(".md"), markdown)
        atomic_write(path, artifact.model_dump_json(indent=2))
        return path

    def has_artifact(self, run_id: str, phase: str) -> bool:
        """True when the phase's artifact exists for the run."""
        return self.artifact_path(run_id, phase).exists()

    def load_artifact(self, run_id: str, phase: str) -> PhaseArtifact:
        """Read a phase artifact; StorageError naming the phase when absent."""
        path = self.artifact_path(run_id, phase)
        try:
            return PhaseArtifact.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StorageError(
                f"run {run_id} has no artifact for phase {phase!r}",
                fix=f"run that phase first, e.g. --phases {phase},...",
            ) from exc

    def save_evidence(self, run_id: str, pack: EvidencePack) -> Path:
        """Persist the evidence pack of one phase attempt."""
        path = self.run_dir(run_id) / "evidence" / f"{pack.phase}.attempt{pack.attempt}.json"
        atomic_write(path, pack.model_dump_json(indent=2))
        return path

    def load_evidence(self, run_id: str, phase: str, attempt: int = 1) -> EvidencePack:
        """Read the evidence pack of one phase attempt."""
        path = self.run_dir(run_id) / "evidence" / f"{phase}.attempt{attempt}.json"
        return EvidencePack.model_validate_json(path.read_text(encoding="utf-8"))

    def save_phase(self, run_id: str, record: PhaseRecord) -> None:
        """Persist a phase record."""
        atomic_write(
            self.run_dir(run_id) / "phases" / f"{record.phase}.json", record.model_dump_json(indent=2)
        )

    def load_phase(self, run_id: str, phase: str) -> PhaseRecord | None:
        """A phase record, or None if the phase has not started."""
        path = self.run_dir(run_id) / "phases" / f"{phase}.json"
        if not path.exists():
            return None
        return PhaseRecord.model_validate_json(path.read_text(encoding="utf-8"))

    def event_log(self, run_id: str) -> JsonlEventLog:
        """The run's event log."""
        return JsonlEventLog(self.run_dir(run_id) / "events.jsonl")


def run_status(record: RunRecord, phases: dict[str, PhaseRecord | None]) -> str:
    """One word (or phrase) for a run: waiting for a person, failed, running, interrupted, passed, incomplete.

    `interrupted` is a run whose worker process died while phases were running: `ideamine resume`
    continues it. `waiting for a person` is a run whose gate escalated after its last attempt.
    """
    states = {r.status for r in phases.values() if r}
    if "escalated" in states:
        return "waiting for a person"
    if states & {"failed", "error"}:
        return "failed"
    if "running" in states or (record.worker is not None and not states):
        alive = record.worker is not None and record.worker.is_alive()
        return "running" if alive else "interrupted"
    if states == {"passed"} and len(phases) == len(record.phases) and None not in phases.values():
        return "passed"
    return "incomplete"
