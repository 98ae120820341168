"""Failure modes, unsticking strategies and the typed Decision the supervisor returns for each.

The SPEC section 9 table, as data: stall → retry from checkpoint; no progress → switch strategy;
repeated model errors → fall back to a smaller/cheaper model; context too long → split the input;
rate limit → back off with jitter honouring Retry-After; budget exhausted → degrade (when a cheaper
model is configured and the call was refused before it was made) or stop with a report naming the
budget; gate keeps failing → pause and escalate to a person. A :class:`Decision` carries what the
lead records: a ledger ``decision`` entry (:meth:`Decision.ledger_entry`, idempotent by
``decision_id``) and events (:meth:`Decision.events`: ``phase.stalled``, ``task.retry`` with the
strategy, ``budget.exhausted``, ``phase.escalated``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import (
    BudgetExceededError,
    ContextLengthExceededError,
    ModelCallError,
    ModelOutputError,
    RetryClass,
)


class FailureMode(StrEnum):
    """Why a task or phase needs unsticking."""

    STALL = "stall"
    NO_PROGRESS = "no_progress"
    MODEL_ERRORS = "model_errors"
    CONTEXT_TOO_LONG = "context_too_long"
    RATE_LIMIT = "rate_limit"
    BUDGET_EXHAUSTED = "budget_exhausted"
    GATE_FAILING = "gate_failing"


class Strategy(StrEnum):
    """What the supervisor decided to do about it."""

    RETRY_FROM_CHECKPOINT = "retry_from_checkpoint"
    SWITCH_STRATEGY = "switch_strategy"
    FALLBACK_MODEL = "fallback_model"
    SPLIT_INPUT = "split_input"
    BACKOFF = "backoff"
    DEGRADE_MODEL = "degrade_model"
    STOP = "stop"
    ESCALATE = "escalate"


SPEC_STRATEGY: dict[FailureMode, Strategy] = {
    FailureMode.STALL: Strategy.RETRY_FROM_CHECKPOINT,
    FailureMode.NO_PROGRESS: Strategy.SWITCH_STRATEGY,
    FailureMode.MODEL_ERRORS: Strategy.FALLBACK_MODEL,
    FailureMode.CONTEXT_TOO_LONG: Strategy.SPLIT_INPUT,
    FailureMode.RATE_LIMIT: Strategy.BACKOFF,
    FailureMode.BUDGET_EXHAUSTED: Strategy.DEGRADE_MODEL,
    FailureMode.GATE_FAILING: Strategy.ESCALATE,
}
"""The first-choice strategy per failure mode (SPEC section 9); fall-backs are in the supervisor."""

RETRYING = frozenset(
    {
        Strategy.RETRY_FROM_CHECKPOINT,
        Strategy.SWITCH_STRATEGY,
        Strategy.FALLBACK_MODEL,
        Strategy.SPLIT_INPUT,
        Strategy.BACKOFF,
        Strategy.DEGRADE_MODEL,
    }
)
"""Strategies that run the task again (and so emit ``task.retry``)."""


class Failure(BaseModel):
    """A failure the lead asks the supervisor to unstick (stalls are found by the supervisor itself)."""

    model_config = ConfigDict(frozen=True)

    mode: FailureMode
    run_id: str
    phase: str | None = None
    task_id: str | None = None
    detail: str = Field(default="", description="One line on what happened, for the ledger.")
    count: int | None = Field(
        default=None, ge=1, description="How many times in a row; None: counted from past decisions."
    )
    retry_after: float | None = Field(default=None, ge=0, description="Seconds the provider asked to wait.")
    evidence: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    """One supervisor decision: the strategy, why, for which task, on what evidence, and its plan."""

    model_config = ConfigDict(frozen=True)

    decision_id: str = Field(description="Stable id; the ledger entry's idempotency key.")
    mode: FailureMode
    strategy: Strategy
    reason: str
    run_id: str
    phase: str | None = None
    task_id: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    plan: dict[str, Any] = Field(default_factory=dict, description="Strategy parameters for the lead.")
    decided_at: float

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The events to publish, in order, as (type, data) for ``bus.emit(type, run_id, phase, **data)``."""
        base = {"task_id": self.task_id, "decision_id": self.decision_id, "reason": self.reason}
        events: list[tuple[str, dict[str, Any]]] = []
        if self.mode in (FailureMode.STALL, FailureMode.NO_PROGRESS):
            events.append(("phase.stalled", base | {"kind": self.mode.value, "evidence": self.evidence}))
        if self.mode is FailureMode.BUDGET_EXHAUSTED:
            events.append(
                ("budget.exhausted", base | {"evidence": self.evidence, "strategy": self.strategy.value})
            )
        if self.strategy in RETRYING:
            events.append(("task.retry", base | {"strategy": self.strategy.value, "plan": self.plan}))
        if self.strategy is Strategy.ESCALATE:
            events.append(("phase.escalated", base | {"plan": self.plan}))
        return events

    def ledger_entry(self) -> dict[str, Any]:
        """The ledger ``decision`` entry: type, idempotency key, phase, task and payload."""
        return {
            "type": "decision",
            "idempotency_key": f"decision:{self.decision_id}",
            "phase": self.phase,
            "task_id": self.task_id,
            "payload": self.model_dump(mode="json"),
        }


def failure_from_error(
    exc: BaseException,
    *,
    run_id: str,
    phase: str | None = None,
    task_id: str | None = None,
    count: int | None = None,
) -> Failure | None:
    """The failure mode of an error a task ended with, or None for errors no unsticker can help (bugs)."""
    detail = f"{type(exc).__name__}: {exc}"[:500]
    common: dict[str, Any] = dict(run_id=run_id, phase=phase, task_id=task_id, detail=detail, count=count)
    if isinstance(exc, BudgetExceededError):
        evidence = {"budget": exc.budget, "limit": exc.limit, "used": exc.used, "requested": exc.requested}
        if exc.model is not None:  # refused on the model ladder: which model, and whether any was left
            evidence |= {"model": exc.model, "ladder_exhausted": exc.ladder_exhausted}
        return Failure(mode=FailureMode.BUDGET_EXHAUSTED, evidence=evidence, **common)
    if isinstance(exc, ContextLengthExceededError):
        return Failure(mode=FailureMode.CONTEXT_TOO_LONG, evidence=_model_evidence(exc), **common)
    retry_after = getattr(exc, "retry_after", None)
    if getattr(exc, "retry_class", None) is RetryClass.RATE_LIMIT:
        return Failure(
            mode=FailureMode.RATE_LIMIT, retry_after=retry_after, evidence=_model_evidence(exc), **common
        )
    if isinstance(exc, ModelCallError | ModelOutputError):
        return Failure(mode=FailureMode.MODEL_ERRORS, evidence=_model_evidence(exc), **common)
    return None


def _model_evidence(exc: BaseException) -> dict[str, Any]:
    keys = ("provider", "model", "status", "retry_after", "attempts")
    return {k: getattr(exc, k) for k in keys if getattr(exc, k, None) is not None}
