"""run_agent: one path for every model; offline output stays the rules' exact output; accounting rides
along without touching artifact hashes; output that never validates goes to the gate (or raises)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.runner import run_agent
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import PhaseArtifact, content_hash
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import ModelOutputInvalidError
from ideamine_core.providers.caller import ModelCaller
from ideamine_core.providers.offline import OFFLINE_VERSION, OfflineProvider

SUB = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", constraints=["mobile-first"])


class PersonaForgets(OfflineProvider):
    """Offline rules, except that Persona returns an output missing its required fields."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        return {"notes": ["forgot the personas"]} if spec.name == "Persona" else super().generate(spec, ctx)


class NotJson(OfflineProvider):
    """Answers with something that is not a JSON object at all."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        return ["not", "an", "object"]  # type: ignore[return-value]


def _ctx(agent: str, phase: str) -> AgentContext:
    return AgentContext(run_id="run-9", phase=phase, agent=agent, submission=SUB, instruction="Keep it short")


def test_offline_output_and_provenance_are_the_rules_own() -> None:
    spec, ctx = get_agent("Classifier"), _ctx("Classifier", "intake")
    result = run_agent(spec, ctx, ModelCaller())
    expected = spec.offline_rule(ctx).model_dump(mode="json")
    assert result.output == expected
    p = result.provenance
    assert (p.provider, p.model, p.generator_version) == ("offline", "offline-rules", OFFLINE_VERSION)
    assert p.output_hash == content_hash(expected) and set(p.inputs) == {"submission", "instruction"}
    assert result.call is not None and result.call.outcome == "ok" and result.call.agent == "Classifier"


def test_a_bare_offline_provider_still_works_and_repeats_byte_for_byte() -> None:
    spec, ctx = get_agent("Strategy"), _ctx("Strategy", "ideation")
    first, second = run_agent(spec, ctx, OfflineProvider()), run_agent(spec, ctx, OfflineProvider())
    assert first.model_dump_json() == second.model_dump_json()


def test_the_call_record_never_reaches_serialized_artifacts_or_hashes() -> None:
    spec, ctx = get_agent("Classifier"), _ctx("Classifier", "intake")
    result = run_agent(spec, ctx, ModelCaller())
    assert "call" not in result.model_dump() and "tokens_in" not in result.model_dump_json()
    bare = result.model_copy(update={"call": None})
    art = PhaseArtifact(phase="intake", results=[result], aggregate={}, aggregation_strategy="merge")
    art_bare = PhaseArtifact(phase="intake", results=[bare], aggregate={}, aggregation_strategy="merge")
    assert art.hash() == art_bare.hash()
    assert pickle.loads(pickle.dumps(result)).call == result.call  # survives Dagster's pickling IO manager


def test_invalid_output_is_kept_raw_for_the_gate_by_default() -> None:
    spec, ctx = get_agent("Persona"), _ctx("Persona", "ideation")
    result = run_agent(spec, ctx, ModelCaller(offline=PersonaForgets()))
    assert result.output == {"notes": ["forgot the personas"]}
    assert result.provenance.provider == "offline" and result.call is not None
    assert result.call.outcome == "invalid_output" and "fails its schema" in (result.call.error or "")


def test_invalid_output_can_raise_with_the_raw_output() -> None:
    spec, ctx = get_agent("Persona"), _ctx("Persona", "ideation")
    with pytest.raises(ModelOutputInvalidError) as info:
        run_agent(spec, ctx, ModelCaller(offline=PersonaForgets()), on_invalid="raise")
    assert "forgot the personas" in info.value.explain() and info.value.attempts == 1


def test_output_that_is_not_an_object_is_wrapped_for_the_gate() -> None:
    spec, ctx = get_agent("Classifier"), _ctx("Classifier", "intake")
    result = run_agent(spec, ctx, ModelCaller(offline=NotJson()))
    assert result.output == {"invalid_output": '["not", "an", "object"]'}


def test_models_override_the_callers_default() -> None:
    spec, ctx = get_agent("Classifier"), _ctx("Classifier", "intake")
    result = run_agent(spec, ctx, ModelCaller(), models=["offline"])
    assert result.provenance.provider == "offline"
