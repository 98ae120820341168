"""Artifacts handed from phase to phase, with provenance and content hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.evidence import (  # GateReason lives there; re-exported here
    FixPlan,
    GateAttempt,
    GateReason,
    GuardResult,
    QAVSummary,
    WaiverUse,
)
from ideamine_core.providers.base import CallRecord


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """sha256 of a value's canonical JSON, as 'sha256:<hex>'."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


class Provenance(BaseModel):
    """Who made an output and from what: the producer and the input hashes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str
    phase: str
    provider: str = Field(description="'offline' for the rule-based generator.")
    model: str
    generator_version: str
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Input name (e.g. upstream phase) → content hash."
    )
    output_hash: str


class ToolRecord(BaseModel):
    """What a real tool did for an agent task: scanner or test run, or files written and committed."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(description="e.g. 'workspace', 'bandit+detect-secrets+cyclonedx', 'pytest-sandbox'.")
    seconds: float = Field(default=0.0, ge=0, description="Wall-clock seconds spent in the tool.")
    commit: str | None = Field(default=None, description="Workspace commit made by this task, if any.")
    written: list[str] = Field(default_factory=list, description="Workspace files written or changed.")
    rejected: list[dict[str, str]] = Field(
        default_factory=list, description="Proposed files the path policy refused (path, rule, message)."
    )
    signals: list[str] = Field(default_factory=list, description="Injection signals found (path: kind).")


class AgentResult(BaseModel):
    """One agent task's typed output (as JSON) and its provenance."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    phase: str
    output: dict[str, Any]
    provenance: Provenance
    iteration: int = 0
    call: CallRecord | None = Field(
        default=None,
        exclude=True,
        description="Accounting of the model call (tokens, cost, latency, cache, repairs); kept in memory "
        "and pickles, never serialized, so it cannot change artifact hashes.",
    )
    tool: ToolRecord | None = Field(
        default=None,
        exclude=True,
        description="The real tool work of the task (kept in memory and pickles, recorded in the ledger).",
    )


class PhaseArtifact(BaseModel):
    """What a phase hands downstream: every agent's result and the aggregate."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    results: list[AgentResult] = Field(description="Agent results, sorted by (iteration, agent).")
    aggregate: dict[str, Any]
    aggregation_strategy: str
    gate: GateResult | None = None

    def hash(self) -> str:
        """Content hash of the artifact (it holds no run id or time, so equal input gives equal hash)."""
        return content_hash(self.model_dump(mode="json"))

    def output_of(self, agent: str) -> dict[str, Any]:
        """The latest output of one agent; KeyError if it did not run."""
        for result in reversed(self.results):
            if result.agent == agent:
                return result.output
        raise KeyError(f"agent {agent!r} has no result in phase {self.phase!r}")


class GateResult(BaseModel):
    """A gate evaluation: score against threshold, pass or fail, and why."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    score: float
    threshold: float
    passed: bool
    attempts: int = 1
    reasons: list[GateReason] = Field(default_factory=list)
    checked: dict[str, bool] = Field(
        default_factory=dict, description="Expected artifact → present and valid."
    )
    guards: list[GuardResult] = Field(default_factory=list, description="Each guard's result.")
    qav: QAVSummary | None = Field(default=None, description="Q/A/V clarification summary.")
    waivers_applied: list[WaiverUse] = Field(default_factory=list)
    history: list[GateAttempt] = Field(default_factory=list, description="Every attempt, first to last.")
    escalate: bool = Field(default=False, description="Failed after the last attempt: a person must look.")


def score_verdict(score: float, threshold: float) -> str:
    """A failed gate's score against its threshold, in words that stay true when the mean score reaches
    the threshold but a guard (a coverage floor, a hard blocker) failed, which fails the gate too."""
    if score < threshold:
        return f"score {score:.2f} < threshold {threshold:.2f}"
    return f"score {score:.2f} ≥ threshold {threshold:.2f}, but a guard failed"


class EvidencePack(BaseModel):
    """What a gate judged in one phase attempt: artifact hashes, the gate result and metrics."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    attempt: int
    artifact_hash: str
    artifacts: dict[str, str] = Field(description="Agent → output hash of the judged outputs.")
    gate: GateResult
    metrics: dict[str, float] = Field(default_factory=dict)
    guards: list[GuardResult] = Field(default_factory=list)
    qav: QAVSummary | None = None
    kmap_frame_ids: list[str] = Field(default_factory=list)
    waivers_applied: list[WaiverUse] = Field(default_factory=list)
    fix_applied: FixPlan | None = Field(default=None, description="The fix that produced this attempt.")


PhaseArtifact.model_rebuild()
