"""Typed ledger payloads: what the pipeline writes for each entry type, and exactly what metrics read.

Each payload model names its entry type, its phase and a default idempotency key, so
``Ledger.record(run_id, payload)`` needs nothing else. A retry of the same write builds the same
payload and the same key, so it returns the entry already written instead of a duplicate.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.artifact import GateResult, canonical_json
from ideamine_core.ledger.chain import EntryType

if TYPE_CHECKING:
    from ideamine_core.providers.base import CallRecord


class Payload(BaseModel):
    """Base of the typed payloads: an entry type, an optional phase and a default idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry_type: ClassVar[EntryType]

    def entry_phase(self) -> str | None:
        """The phase column of the entry (None for run-level entries)."""
        return getattr(self, "phase", None)

    def default_key(self) -> str:
        """The idempotency key used when the caller gives none: the same write gives the same key."""
        digest = hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()[:24]
        return f"{self.entry_type}:{digest}"


class TaskPayload(Payload):
    """A ``task`` entry: one agent (or tool) task attempt finished, successfully or not."""

    entry_type = EntryType.TASK

    phase: str
    agent: str
    status: Literal["succeeded", "failed"] = Field(description="Outcome of this attempt.")
    iteration: int = Field(default=0, description="Iteration in iterative phases (story_loop).")
    attempt: int = Field(default=1, description="1 for the first try, 2 for the first retry, …")
    provider: str = Field(default="offline", description="'offline', 'openai', 'anthropic', or 'tool'.")
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    request_hash: str | None = Field(default=None, description="Hash of the model request (cache key).")
    cached: bool = Field(default=False, description="True when the response came from the cache.")
    tool_seconds: float = Field(default=0.0, description="Wall-clock seconds spent in tools (tests, scans).")
    output_hash: str | None = None
    error: str | None = Field(default=None, description="Error class and message when status is failed.")

    @classmethod
    def from_call(
        cls, call: CallRecord, *, attempt: int = 1, tool_seconds: float = 0.0, output_hash: str | None = None
    ) -> TaskPayload:
        """The task entry of one agent call (`providers.base.CallRecord`); failed unless its outcome is ok."""
        return cls(
            phase=call.phase,
            agent=call.agent,
            status="succeeded" if call.outcome == "ok" else "failed",
            iteration=call.iteration,
            attempt=attempt,
            provider=call.provider,
            model=call.model,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=call.cost_usd or 0.0,
            latency_ms=call.latency_ms,
            request_hash=call.request_hash,
            cached=call.cached,
            tool_seconds=tool_seconds,
            output_hash=output_hash,
            error=call.error,
        )

    def default_key(self) -> str:
        """``task:<phase>:<agent>:<iteration>:<attempt>``: one entry per task attempt."""
        return f"task:{self.phase}:{self.agent}:{self.iteration}:{self.attempt}"


class GatePayload(Payload):
    """A ``gate`` entry: one gate evaluation of a phase."""

    entry_type = EntryType.GATE

    phase: str
    attempt: int = Field(description="1-based gate attempt (auto-fix re-evaluations count up).")
    score: float
    threshold: float
    passed: bool
    reasons: list[str] = Field(default_factory=list, description="'code: item: detail' per reason.")
    waived: list[str] = Field(default_factory=list, description="Violations let pass by a waiver.")

    @classmethod
    def from_gate(cls, gate: GateResult, waived: list[str] | None = None) -> GatePayload:
        """The payload of a domain GateResult."""
        return cls(
            phase=gate.phase,
            attempt=gate.attempts,
            score=gate.score,
            threshold=gate.threshold,
            passed=gate.passed,
            reasons=[f"{r.code}: {r.item}: {r.detail}" for r in gate.reasons],
            waived=waived or [],
        )

    def default_key(self) -> str:
        """``gate:<phase>:<attempt>``: one entry per evaluation."""
        return f"gate:{self.phase}:{self.attempt}"


class DecisionPayload(Payload):
    """A ``decision`` entry: something the orchestrator chose (dispatch, handoff, retry, fallback, auto-fix,
    block, escalate)."""

    entry_type = EntryType.DECISION

    kind: str = Field(
        description="e.g. 'dispatch', 'handoff', 'retry', 'fallback', 'autofix', 'blocked_action', 'escalate'"
    )
    reason: str
    phase: str | None = None
    agent: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ArtifactPayload(Payload):
    """An ``artifact`` entry: an artifact was recorded with its content hash and producer."""

    entry_type = EntryType.ARTIFACT

    artifact_id: str
    name: str
    kind: str
    content_hash: str
    phase: str | None = None
    producer: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict, description="Input artifact id → its hash.")

    def default_key(self) -> str:
        """``artifact:<artifact_id>:<content_hash>``: a new version gets a new entry."""
        return f"artifact:{self.artifact_id}:{self.content_hash}"


class CostPayload(Payload):
    """A ``cost`` entry: one billed model call (written once per request hash, before the result is used)."""

    entry_type = EntryType.COST

    phase: str
    agent: str
    provider: str
    model: str
    request_hash: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cached: bool = False

    def default_key(self) -> str:
        """``cost:<request_hash>``: a call is billed once however often the write is retried."""
        return f"cost:{self.request_hash}"


def cost_payloads(call: CallRecord) -> list[CostPayload]:
    """One cost entry per request of a call that went upstream (cache hits cost nothing and are skipped,
    so a resumed run replaying from the cache never writes a second, conflicting entry)."""
    return [
        CostPayload(
            phase=call.phase,
            agent=call.agent,
            provider=r.provider,
            model=r.model,
            request_hash=r.request_hash,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost_usd=r.cost_usd or 0.0,
            cached=False,
        )
        for r in call.requests
        if not r.cached
    ]


class SignaturePayload(Payload):
    """A ``signature`` entry: the head (the entry before it) signed, or recorded unsigned without a key."""

    entry_type = EntryType.SIGNATURE

    head_seq: int
    head_hash: str
    alg: str
    key_id: str | None = None
    signature: str | None = None

    def default_key(self) -> str:
        """``signature:<head_seq>``: signing the same head twice gives one entry."""
        return f"signature:{self.head_seq}"


PAYLOADS: dict[str, type[Payload]] = {
    model.entry_type.value: model
    for model in (TaskPayload, GatePayload, DecisionPayload, ArtifactPayload, CostPayload, SignaturePayload)
}
"""Entry type → its payload model."""
