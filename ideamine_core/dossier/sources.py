"""A run folder as the dossier reads it: records, artifacts, evidence, and typed agent outputs or why not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ideamine_core.agents.registry import PHASES
from ideamine_core.domain.artifact import EvidencePack, PhaseArtifact, score_verdict
from ideamine_core.errors import StorageError
from ideamine_core.storage.run_store import PhaseRecord, RunRecord, RunStore

M = TypeVar("M", bound=BaseModel)


@dataclass
class RunFolder:
    """What the run folder holds for one run: record, phase records, artifacts and evidence packs."""

    run: RunRecord
    phases: dict[str, PhaseRecord] = field(default_factory=dict)
    artifacts: dict[str, PhaseArtifact] = field(default_factory=dict)
    evidence: dict[str, list[EvidencePack]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def load_run_folder(store: RunStore, run_id: str) -> RunFolder:
    """Read a run's folder; UserInputError for an unknown run, unreadable artifacts noted, not raised."""
    folder = RunFolder(run=store.load_run(run_id))
    for phase in dict.fromkeys([*folder.run.phases, *PHASES]):
        record = store.load_phase(run_id, phase)
        if record is not None:
            folder.phases[phase] = record
        if store.has_artifact(run_id, phase):
            try:
                folder.artifacts[phase] = store.load_artifact(run_id, phase)
            except (ValidationError, ValueError, StorageError) as exc:
                folder.unreadable[phase] = f"the artifact of phase {phase} is unreadable ({exc})"[:300]
        folder.evidence[phase] = _load_evidence(store, run_id, phase)
    return folder


def _load_evidence(store: RunStore, run_id: str, phase: str) -> list[EvidencePack]:
    packs: list[EvidencePack] = []
    for attempt in range(1, 1000):
        try:
            packs.append(store.load_evidence(run_id, phase, attempt))
        except FileNotFoundError:
            break
        except (ValidationError, ValueError) as exc:
            raise StorageError(
                f"evidence pack {phase} attempt {attempt} of run {run_id} is unreadable ({exc})"[:400],
                fix="restore the file from a backup or re-run the phase",
            ) from exc
    return packs


class Sources:
    """Typed agent outputs of the run folder, each either present or with the reason it is missing."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self._seen: dict[tuple[str, str], tuple[BaseModel | None, str | None]] = {}

    def phase_absence(self, phase: str) -> str | None:
        """Why a phase has no artifact, or None when it has one."""
        folder, record = self.folder, self.folder.phases.get(phase)
        if phase in folder.artifacts:
            return None
        if phase in folder.unreadable:
            return folder.unreadable[phase]
        if phase not in folder.run.phases:
            return f"phase {phase} was not part of this run (partial run)"
        if record is None:
            return f"phase {phase} did not start"
        if record.status == "failed":
            return f"phase {phase} failed its gate ({_score(record)}){_detail(record)}"
        if record.status == "escalated":
            return f"phase {phase} failed its gate and waits for a person ({_score(record)}){_detail(record)}"
        if record.status == "error":
            return f"phase {phase} stopped with an error{_detail(record)}"
        if record.status == "running":
            return f"phase {phase} is still running or was interrupted"
        return f"the artifact of phase {phase} is not in the run folder"

    def get(self, phase: str, agent: str, model: type[M]) -> M | None:
        """The agent's validated output, or None."""
        output, _ = self._lookup(phase, agent, model)
        return output

    def reason(self, phase: str, agent: str, model: type[BaseModel]) -> str | None:
        """Why the agent's output is missing, or None when it is present."""
        return self._lookup(phase, agent, model)[1]

    def _lookup(self, phase: str, agent: str, model: type[M]) -> tuple[M | None, str | None]:
        if (phase, agent) not in self._seen:
            self._seen[phase, agent] = self._validate(phase, agent, model)
        output, reason = self._seen[phase, agent]
        return (output if isinstance(output, model) else None), reason

    def _validate(self, phase: str, agent: str, model: type[M]) -> tuple[M | None, str | None]:
        absence = self.phase_absence(phase)
        if absence:
            return None, absence
        try:
            raw = self.folder.artifacts[phase].output_of(agent)
        except KeyError:
            return None, f"agent {agent} has no result in phase {phase}"
        try:
            return model.model_validate(raw), None
        except ValidationError as exc:
            return None, f"the output of {agent} does not match its schema ({exc.error_count()} error(s))"

    def output_hash(self, phase: str, agents: tuple[str, ...]) -> str | None:
        """Provenance hash of a single agent's output, or the phase artifact hash for several."""
        artifact = self.folder.artifacts.get(phase)
        if artifact is None:
            return None
        if len(agents) != 1:
            return artifact.hash()
        found = [r for r in artifact.results if r.agent == agents[0]]
        return found[-1].provenance.output_hash if found else None


def _score(record: PhaseRecord) -> str:
    if record.gate_score is None or record.threshold is None:
        return "no score recorded"
    return score_verdict(record.gate_score, record.threshold)


def _detail(record: PhaseRecord) -> str:
    return f": {record.detail}" if record.detail else ""
