"""The first gate scores a phase by artifacts present, valid against their schema and non-empty."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ideamine_core.domain.artifact import AgentResult, Provenance
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.phase.gate import evaluate_artifacts


class Out(BaseModel):
    items: list[str] = Field(min_length=1)
    note: str = ""


CONFIG = PhaseConfig(
    phase="p",
    agents=[{"name": "A"}, {"name": "B"}, {"name": "C"}, {"name": "D"}],
    gate={"pass_threshold": 0.75},
)


def result(agent: str, output: dict) -> AgentResult:
    prov = Provenance(
        agent=agent, phase="p", provider="offline", model="m", generator_version="1", output_hash="sha256:x"
    )
    return AgentResult(agent=agent, phase="p", output=output, provenance=prov)


def test_all_valid_passes_with_full_score() -> None:
    gate = evaluate_artifacts(CONFIG, [result(a, {"items": ["x"]}) for a in "ABCD"], lambda _: Out)
    assert (gate.score, gate.passed, gate.reasons) == (1.0, True, [])


def test_missing_invalid_and_empty_artifacts_each_lower_the_score_with_a_named_reason() -> None:
    results = [result("A", {"items": ["x"]}), result("B", {"items": []}), result("C", {"items": ["y"]})]
    gate = evaluate_artifacts(CONFIG, results, lambda _: Out)
    assert gate.score == 0.5 and not gate.passed and gate.threshold == 0.75
    assert {(r.code, r.item) for r in gate.reasons} == {("invalid_schema", "B"), ("missing_artifact", "D")}
    assert "items" in next(r.detail for r in gate.reasons if r.item == "B")


def test_output_with_only_empty_fields_is_not_counted() -> None:
    class Loose(BaseModel):
        items: list[str] = []
        note: str = ""

    gate = evaluate_artifacts(
        CONFIG, [result(a, {"items": [], "note": " "}) for a in "ABCD"], lambda _: Loose
    )
    assert gate.score == 0 and {r.code for r in gate.reasons} == {"empty_artifact"}


def test_latest_iteration_of_an_agent_is_the_one_judged() -> None:
    old = result("A", {"items": []})
    new = result("A", {"items": ["fixed"]}).model_copy(update={"iteration": 1})
    config = PhaseConfig(phase="p", agents=[{"name": "A"}], gate={"pass_threshold": 1})
    assert evaluate_artifacts(config, [new, old], lambda _: Out).passed
