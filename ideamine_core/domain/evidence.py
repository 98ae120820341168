"""Evidence a gate judges: guard results, Q/A/V clarification, knowledge-map frames, waivers, fixes."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Answer",
    "Assumption",
    "Binding",
    "Claim",
    "FixAction",
    "FixPlan",
    "GateAttempt",
    "GateReason",
    "GuardResult",
    "KmapFrame",
    "QAVSummary",
    "Question",
    "Verdict",
    "Waiver",
    "WaiverUse",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateReason(_Frozen):
    """One reason a gate lowered its score, naming the offending item."""

    code: str = Field(description="Short machine code, e.g. 'missing_artifact', 'contradictions'.")
    item: str = Field(description="The agent, artifact or field concerned.")
    detail: str
    agents: list[str] = Field(
        default_factory=list, description="Agents that own the offending item(s): who a fix re-runs."
    )


class GuardResult(_Frozen):
    """One guard's judgement: a score in [0, 1], the raw value against its threshold, and why."""

    guard: str = Field(description="Guard type, e.g. 'contradictions'; also the violation a waiver names.")
    score: float = Field(ge=0, le=1, description="Normalised score the gatekeeper averages.")
    value: float = Field(description="Raw measure: a count (mode 'max') or a share (mode 'min').")
    threshold: float
    mode: Literal["max", "min"] = Field(description="'max': value ≤ threshold passes; 'min': ≥.")
    passed: bool
    reasons: list[GateReason] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict, description="Counts the guard measured.")
    judged_by: list[str] = Field(default_factory=lambda: ["rules"], description="'rules', 'model'.")
    notes: list[str] = Field(default_factory=list, description="E.g. sampling or judge errors.")
    waived: bool = Field(default=False, description="True when an active waiver let it pass.")
    hard: bool = Field(default=False, description="A gate hard blocker: pass/fail only, not averaged.")


class Verdict(StrEnum):
    """The Validator's judgement of an answer."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    UNKNOWN = "UNKNOWN"


class Claim(_Frozen):
    """A checkable statement of a draft, and where it is."""

    id: str = Field(description="Stable id within the attempt, 'C-1', ...")
    agent: str
    item: str = Field(description="The output item, e.g. 'REQ-3' or 'Strategy.vision'.")
    text: str


class Question(_Frozen):
    """What the Question agent asks about one unsupported claim."""

    id: str = Field(description="'Q-1', ...")
    claim_id: str
    text: str


class Answer(_Frozen):
    """The Answer agent's reply from context, with the passages it used."""

    question_id: str
    text: str
    evidence: list[str] = Field(
        default_factory=list, description="Sources: 'idea', 'intake.Validator.goals[0]'."
    )
    coverage: float = Field(default=0.0, ge=0, le=1, description="Share of the claim the evidence covers.")


class Binding(_Frozen):
    """A claim bound to evidence by an ACCEPTed answer."""

    claim_id: str
    claim: str
    item: str
    evidence: list[str]
    frame_id: str


class KmapFrame(_Frozen):
    """One knowledge-map frame: a question, its answer and the verdict, with evidence sources."""

    frame_id: str
    run_id: str
    phase: str
    question: str
    answer: str
    verdict: Verdict
    evidence: list[str] = Field(default_factory=list)
    claim_item: str = ""
    created_at: float = Field(default_factory=time.time)


class Assumption(_Frozen):
    """A claim kept in the draft without evidence (the Validator said UNKNOWN)."""

    run_id: str
    phase: str
    claim: str
    source: str = Field(description="Agent and item the claim came from.")
    status: str = "unverified"
    idempotency_key: str


class QAVSummary(_Frozen):
    """What one Q/A/V clarification found: counts, the grounding score and the frames it made."""

    claims: int = 0
    supported: int = Field(default=0, description="Claims one context passage supports directly.")
    questions: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    not_asked: int = Field(default=0, description="Unsupported claims beyond the question budget.")
    grounding: float = Field(default=0.0, ge=0, le=1)
    iterations: int = 0
    level: int = Field(default=0, description="Strictness level (raised by the grounding fix).")
    frame_ids: list[str] = Field(default_factory=list)
    bindings: list[Binding] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list, description="Claims accepted without evidence.")
    rejected_claims: list[str] = Field(default_factory=list, description="'item: claim' contradicted.")


class Waiver(_Frozen):
    """A recorded decision to let one named violation of a phase gate pass until it expires."""

    waiver_id: str
    run_id: str
    phase: str
    violation: str = Field(description="Guard type (e.g. 'contradictions') or hard-blocker metric.")
    owner: str
    reason: str
    expires_at: float = Field(description="Epoch seconds; the waiver does nothing from then on.")
    created_at: float

    @field_validator("owner", "reason", "violation")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank: a waiver names who accepts the risk, what and why")
        return value.strip()

    def is_active(self, now: float) -> bool:
        """True until the expiry time."""
        return now < self.expires_at


class WaiverUse(_Frozen):
    """A waiver that changed a gate's verdict, recorded in the result."""

    waiver_id: str
    violation: str
    owner: str
    reason: str
    expires_at: float


class FixAction(_Frozen):
    """Re-run one agent with an instruction."""

    agent: str
    instruction: str
    phase: str | None = Field(default=None, description="Set when the agent belongs to an upstream phase.")


FixStrategy = Literal["schema", "contradictions", "blockers", "coverage", "grounding", "score", "retry"]


class FixPlan(_Frozen):
    """The auto-fix chosen from a failed attempt's reasons."""

    strategies: list[FixStrategy] = Field(description="Failure kinds addressed, in priority order.")
    actions: list[FixAction] = Field(default_factory=list)
    qav_level: int = Field(default=0, description="Q/A/V strictness for the next attempt.")
    summary: str = ""


class GateAttempt(_Frozen):
    """One evaluation of the loop: score vs threshold, each guard, waivers, and the fix chosen after it."""

    attempt: int = Field(ge=1)
    score: float
    threshold: float
    passed: bool
    reasons: list[GateReason] = Field(default_factory=list)
    guards: list[GuardResult] = Field(default_factory=list)
    qav: QAVSummary | None = None
    waivers_applied: list[WaiverUse] = Field(default_factory=list)
    evidence_hash: str = ""
    fix: FixPlan | None = Field(default=None, description="The fix applied after this attempt failed.")
