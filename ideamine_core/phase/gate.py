"""The first gate: score a phase by the artifacts actually present and valid against their schemas."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ValidationError

from ideamine_core.domain.artifact import AgentResult, GateReason, GateResult
from ideamine_core.domain.phase import PhaseConfig

SchemaLookup = Callable[[str], type[BaseModel]]


def _is_trivial(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | dict | tuple):
        return len(value) == 0 or (isinstance(value, str) and not value.strip())
    return False


def _check_one(agent: str, result: AgentResult | None, schema: type[BaseModel]) -> GateReason | None:
    if result is None:
        return GateReason(code="missing_artifact", item=agent, detail="the agent produced no output")
    try:
        schema.model_validate(result.output)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        detail = f"{exc.error_count()} schema error(s), first at `{where}`: {first['msg']}"
        return GateReason(code="invalid_schema", item=agent, detail=detail)
    if not result.output or all(_is_trivial(v) for v in result.output.values()):
        return GateReason(code="empty_artifact", item=agent, detail="every field is empty")
    return None


def evaluate_artifacts(
    config: PhaseConfig, results: Sequence[AgentResult], schema_of: SchemaLookup
) -> GateResult:
    """Score = share of configured agents whose latest output is present, valid and non-trivial."""
    latest = {r.agent: r for r in sorted(results, key=lambda r: (r.iteration, r.agent))}
    reasons: list[GateReason] = []
    checked: dict[str, bool] = {}
    for agent in config.agent_names:
        reason = _check_one(agent, latest.get(agent), schema_of(agent))
        checked[agent] = reason is None
        if reason is not None:
            reasons.append(reason)
    score = round(sum(checked.values()) / len(checked), 4) if checked else 0.0
    threshold = config.gate.pass_threshold
    return GateResult(
        phase=config.phase,
        score=score,
        threshold=threshold,
        passed=score >= threshold,
        reasons=reasons,
        checked=checked,
    )
