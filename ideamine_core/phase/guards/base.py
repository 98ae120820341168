"""What every guard shares: its input (the attempt's outputs and context) and result builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec, PhaseConfig
from ideamine_core.phase.claims import GateContext, Statement, latest, phase_statements

if TYPE_CHECKING:  # the Q/A/V module imports the guards, so only the type is imported here
    from ideamine_core.phase.qav import QAVResult

M = TypeVar("M", bound=BaseModel)
SchemaLookup = Callable[[str], type[BaseModel]]
MAX_REASONS = 25
"""Reasons kept per guard; the rest are counted in one summary reason."""


@dataclass(frozen=True)
class GuardInput:
    """One attempt as the guards see it."""

    config: PhaseConfig
    results: Sequence[AgentResult]
    context: GateContext
    schema_of: SchemaLookup
    qav: QAVResult | None = None
    known_statements: list[Statement] | None = None
    """The attempt's statements when the caller already extracted them (they are costly on big text)."""

    @cached_property
    def latest(self) -> dict[str, AgentResult]:
        """The latest result of each agent."""
        return latest(self.results)

    def output(self, agent: str) -> dict[str, Any] | None:
        """An agent's latest raw output, or None."""
        found = self.latest.get(agent)
        return found.output if found is not None else None

    def typed(self, agent: str, model: type[M]) -> M | None:
        """An agent's latest output validated as `model`; None if absent or invalid."""
        raw = self.output(agent)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except (ValidationError, TypeError, ValueError):
            return None

    def upstream_typed(self, phase: str, agent: str, model: type[M]) -> M | None:
        """An upstream agent's output validated as `model`; None if absent or invalid."""
        raw = self.context.upstream_output(phase, agent)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except (ValidationError, TypeError, ValueError):
            return None

    @cached_property
    def statements(self) -> list[Statement]:
        """Every sentence of the latest outputs."""
        if self.known_statements is not None:
            return self.known_statements
        return phase_statements(self.results)


def cap_reasons(reasons: list[GateReason], code: str) -> list[GateReason]:
    """At most MAX_REASONS reasons, plus one that counts the rest."""
    if len(reasons) <= MAX_REASONS:
        return reasons
    rest = len(reasons) - MAX_REASONS
    more = GateReason(code=code, item="…", detail=f"and {rest} more of the same kind")
    return [*reasons[:MAX_REASONS], more]


def share_result(
    spec: GuardSpec,
    value: float,
    reasons: list[GateReason],
    metrics: dict[str, float] | None = None,
    notes: list[str] | None = None,
) -> GuardResult:
    """A 'min' guard: the share `value` must reach the threshold; the score is the share."""
    value = round(min(max(value, 0.0), 1.0), 4)
    return GuardResult(
        guard=spec.type,
        score=value,
        value=value,
        threshold=spec.threshold,
        mode="min",
        passed=value >= spec.threshold,
        reasons=cap_reasons(reasons, spec.type),
        metrics=metrics or {},
        notes=notes or [],
    )


def count_score(count: float, threshold: float) -> float:
    """1.0 within the allowed count, then 1/2, 1/3, … for each item over it."""
    return round(1.0 / (1.0 + max(0.0, count - threshold)), 4)


def count_result(
    spec: GuardSpec,
    count: float,
    reasons: list[GateReason],
    metrics: dict[str, float] | None = None,
    notes: list[str] | None = None,
) -> GuardResult:
    """A 'max' guard: the count must not exceed the threshold."""
    return GuardResult(
        guard=spec.type,
        score=count_score(count, spec.threshold),
        value=float(count),
        threshold=spec.threshold,
        mode="max",
        passed=count <= spec.threshold,
        reasons=cap_reasons(reasons, spec.type),
        metrics=metrics or {},
        notes=notes or [],
    )


def param(spec: GuardSpec, name: str, default: Any) -> Any:
    """A guard parameter from the YAML `params`, or `default`."""
    return spec.params.get(name, default)
