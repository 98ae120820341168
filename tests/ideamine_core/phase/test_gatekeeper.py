"""The gatekeeper scores an attempt against the phase rubric: the mean guard score against
`pass_threshold`, every guard passing, hard blockers within limits; a model judge can only make a
guard stricter; an unknown hard-blocker metric is a configuration error naming file and field;
every attempt yields a serializable evidence pack, stored once per attempt on both backends.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gate_chain import build_chain, default_graph, gate_context, schema_of

from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import GuardSpec, PhaseConfig
from ideamine_core.errors import ConfigError, ModelOutputError, ServiceUnavailableError
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.gatekeeper import Gatekeeper, output_hash
from ideamine_core.phase.judge import JudgeFindings

DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)


@pytest.fixture(scope="module")
def graph():
    return default_graph()


@pytest.fixture(scope="module")
def chain(graph):
    return build_chain(graph, DEMO, upto="bizdev")


def evaluate(graph, chain, config: PhaseConfig, results: list[AgentResult] | None = None, **kwargs: Any):
    keeper = Gatekeeper(config, schema_of, **kwargs)
    results = results if results is not None else chain[config.phase].results
    return keeper.evaluate("run-1", 1, results, gate_context(graph, chain, config.phase, DEMO))


def variant(config: PhaseConfig, guards: list[GuardSpec] | None = None, **gate: Any) -> PhaseConfig:
    update: dict[str, Any] = {"gate": config.gate.model_copy(update=gate)}
    if guards is not None:
        update["guards"] = guards
    return config.model_copy(update=update)


def test_the_score_is_the_mean_of_the_guard_scores(graph, chain) -> None:
    ev = evaluate(graph, chain, graph.phases["prd"])
    soft = [g for g in ev.gate.guards if not g.hard]
    assert ev.gate.passed and ev.gate.score == round(sum(g.score for g in soft) / len(soft), 4)
    assert [g.guard for g in soft] == ["contradictions", "coverage", "schema", "grounding"]
    assert ev.gate.checked == dict.fromkeys(graph.phases["prd"].agent_names, True)
    assert ev.gate.qav is not None and ev.pack.kmap_frame_ids == ev.gate.qav.frame_ids


def test_a_phase_without_a_schema_guard_gets_one_at_its_pass_threshold(graph, chain) -> None:
    config = variant(
        graph.phases["prd"], guards=[GuardSpec(type="coverage", threshold=1.0)], pass_threshold=0.6
    )
    ev = evaluate(graph, chain, config)
    schema = next(g for g in ev.gate.guards if g.guard == "schema")
    assert schema.threshold == 0.6 and schema.passed


def test_passing_guards_can_still_fail_on_the_mean(graph, chain) -> None:
    config = variant(graph.phases["prd"], pass_threshold=0.99)
    ev = evaluate(graph, chain, config)
    assert all(g.passed for g in ev.gate.guards) and not ev.gate.passed
    reason = ev.gate.reasons[-1]
    assert reason.code == "score" and "< 0.99" in reason.detail and "grounding" in reason.detail


def test_an_unknown_hard_blocker_metric_is_a_config_error(graph) -> None:
    config = variant(graph.phases["security"], hard_blockers={"secretz_found": 0})
    with pytest.raises(ConfigError) as info:
        Gatekeeper(config, schema_of)
    assert info.value.file == "security.yaml" and info.value.field == "gate.hard_blockers.secretz_found"
    assert "secrets_found" in (info.value.fix or "")


class Judge:
    """A scripted model judge."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.tasks: list[str] = []

    def __call__(self, task: str, prompt: str, output: type) -> Any:
        self.tasks.append(task)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def judged(config: PhaseConfig) -> PhaseConfig:
    return config.model_copy(
        update={"guards": [g.model_copy(update={"use_model_judge": True}) for g in config.guards]}
    )


def test_a_judge_finding_fails_a_guard_the_rules_passed(graph, chain) -> None:
    finding = JudgeFindings(score=0.4, findings=[{"item": "REQ-4", "detail": "conflicts with NFR-6"}])
    judge = Judge(finding)
    ev = evaluate(graph, chain, judged(graph.phases["prd"]), judge=judge)
    contradictions = next(g for g in ev.gate.guards if g.guard == "contradictions")
    assert (
        not contradictions.passed
        and contradictions.value == 1
        and contradictions.judged_by == ["rules", "model"]
    )
    assert contradictions.reasons[0].item == "REQ-4" and contradictions.reasons[0].detail.startswith(
        "model judge:"
    )
    coverage = next(g for g in ev.gate.guards if g.guard == "coverage")
    assert coverage.value == 0.4 and not coverage.passed  # the judge's lower score wins
    assert not ev.gate.passed and "guard.contradictions" in judge.tasks


@pytest.mark.parametrize(
    "error",
    [
        # the model answered something that does not validate
        ModelOutputError("the judge returned malformed JSON"),
        # the model endpoint is down
        ServiceUnavailableError("cannot reach the model"),
    ],
)
def test_a_failing_judge_leaves_the_rules_in_charge(graph, chain, error) -> None:
    rules = evaluate(graph, chain, graph.phases["prd"])
    ev = evaluate(graph, chain, judged(graph.phases["prd"]), judge=Judge(error))
    assert ev.gate.passed == rules.gate.passed and ev.gate.score == rules.gate.score
    assert all(
        "rules only" in " ".join(g.notes) for g in ev.gate.guards if not g.hard and g.guard != "grounding"
    )


def test_a_judge_requested_but_not_configured_is_noted(graph, chain) -> None:
    ev = evaluate(graph, chain, judged(graph.phases["prd"]))
    assert ev.gate.passed
    assert (
        "model judge requested but none configured"
        in next(g for g in ev.gate.guards if g.guard == "schema").notes
    )


def test_output_hash_survives_bytes_and_lone_surrogates() -> None:
    assert output_hash({"a": b"\xff", "b": "\udcff"}).startswith("sha256:")
    assert output_hash({"a": 1, "b": 2}) == output_hash({"b": 2, "a": 1})


def test_evidence_packs_are_stored_once_per_attempt(graph, chain, db) -> None:
    store = KnowledgeStore(db)
    keeper = Gatekeeper(graph.phases["prd"], schema_of, store=store)
    context = gate_context(graph, chain, "prd", DEMO)
    first = keeper.evaluate("run-1", 1, chain["prd"].results, context)
    broken = []
    for r in chain["prd"].results:
        output = copy.deepcopy(r.output)
        if r.agent == "UXFlow":
            output["flows"] = []
        broken.append(r.model_copy(update={"output": output}))
    again = keeper.evaluate("run-1", 1, broken, context)  # attempt 1 re-evaluated (a retried step)
    second = keeper.evaluate("run-1", 2, chain["prd"].results, context)
    packs = store.packs("run-1", "prd")
    assert [p.attempt for p in packs] == [1, 2]
    assert packs[0] == again.pack and packs[1] == second.pack and packs[0] != first.pack
    assert not packs[0].gate.passed and packs[1].gate.passed
