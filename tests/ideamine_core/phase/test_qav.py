"""Q/A/V clarification: questions about unsupported claims, answers from context, validated verdicts.

Scenario 5: on a real draft the triad produces accepted bindings and announces `kmap.delta.created`
with the frame ids; UNKNOWNs become assumptions; a claim the idea contradicts is REJECTed; the loop
is bounded; frames and assumptions persist once (idempotent) on both database backends; a model
judge can back the three agents but cannot accept a claim without evidence it was shown.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gate_chain import build_chain, default_graph, gate_context

from ideamine_core.domain.evidence import Answer, Verdict
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import ModelOutputError
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.qav import Clarifier, QAVAgents, QAVPolicy
from ideamine_core.phase.qav_agents import AnswerDraft, QuestionDrafts, VerdictDraft, judge_agents

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


def clarify(graph, chain, phase="prd", results=None, **kwargs: Any):
    events: list[tuple[str, dict[str, Any]]] = []
    clarifier = Clarifier(
        kwargs.pop("agents", None), kwargs.pop("store", None), lambda t, d: events.append((t, d))
    )
    result = clarifier.run(
        "run-1",
        phase,
        kwargs.pop("attempt", 1),
        results if results is not None else chain[phase].results,
        gate_context(graph, chain, phase, DEMO),
        kwargs.pop("policy", QAVPolicy()),
    )
    return result, events


def test_scenario_5_accepted_bindings_and_a_kmap_delta_with_frame_ids(graph, chain) -> None:
    result, events = clarify(graph, chain)
    s = result.summary
    assert s.accepted > 0 and len(s.bindings) == s.accepted
    assert s.questions == len(result.frames) == len(s.frame_ids) > 0
    assert [t for t, _ in events] == ["kmap.delta.created"]
    data = events[0][1]
    assert data["attempt"] == 1 and data["frame_ids"] == s.frame_ids and data["accepted"] == s.accepted
    for binding in s.bindings:
        assert binding.frame_id in s.frame_ids and binding.evidence
        frame = next(f for f in result.frames if f.frame_id == binding.frame_id)
        assert frame.verdict is Verdict.ACCEPT and frame.claim_item == binding.item
        # evidence is the context: the idea, upstream phases or sibling agents, never the claim's own agent
        agent = next(c.agent for c in result.claims if c.id == binding.claim_id)
        assert not any(e.startswith(f"{agent}.") for e in binding.evidence)
    context = ("idea", "users[", "constraints[", "intake.", "ideation.", "critique.")
    assert any(e.startswith(context) for b in s.bindings for e in b.evidence)


def test_unknowns_are_assumptions_and_grounding_counts_supported_and_accepted(graph, chain) -> None:
    result, _ = clarify(graph, chain)
    s = result.summary
    assert s.unknown == len(result.assumptions) == len(s.assumptions) > 0
    assert all(
        a.status == "unverified" and a.run_id == "run-1" and a.phase == "prd" for a in result.assumptions
    )
    grounded = s.claims - len(result.ungrounded())
    assert s.grounding == round(grounded / s.claims, 4)
    assert s.supported + s.accepted >= grounded > 0


def contradicting_requirement(output: dict[str, Any]) -> None:
    output["requirements"].append(
        {
            "id": "REQ-11",
            "text": "The product shall not be mobile-first.",
            "priority": "must",
            "story_ids": [],
        }
    )


def with_change(results, agent, change):
    out = []
    for r in results:
        if r.agent == agent:
            output = copy.deepcopy(r.output)
            change(output)
            r = r.model_copy(update={"output": output})
        out.append(r)
    return out


def test_a_claim_the_idea_contradicts_is_rejected(graph, chain) -> None:
    results = with_change(chain["prd"].results, "PRDWriter", contradicting_requirement)
    result, _ = clarify(graph, chain, results=results, policy=QAVPolicy(level=1).stricter(1))
    rejected = [c for c in result.claims if result.verdicts.get(c.id) is Verdict.REJECT]
    assert [c.item for c in rejected] == ["REQ-11"]
    assert result.summary.rejected_claims == ["REQ-11: The product shall not be mobile-first."]
    assert result.ungrounded()[0][1] == "REJECT"


def test_the_loop_is_bounded_when_nothing_is_ever_answered(graph, chain) -> None:
    calls: list[int] = []

    def never(question, claim, index, policy, iteration) -> Answer:
        calls.append(iteration)
        return Answer(question_id=question.id, text="I do not know")

    policy = QAVPolicy(max_iterations=3, max_questions=5)
    result, _ = clarify(graph, chain, agents=QAVAgents(answerer=never), policy=policy)
    s = result.summary
    assert s.iterations == 3 and s.questions == 5 and s.unknown == 5 and s.accepted == 0
    assert sorted(set(calls)) == [1, 2, 3] and len(calls) == 15
    assert s.not_asked > 0  # the question budget, not the claims, bounded the work


def test_stricter_levels_question_every_claim(graph, chain) -> None:
    base, _ = clarify(graph, chain)
    strict, _ = clarify(graph, chain, policy=QAVPolicy().stricter(2))
    assert strict.summary.level == 2
    assert strict.summary.questions == min(strict.summary.claims, QAVPolicy().max_questions * 3)
    assert strict.summary.questions > base.summary.questions


def test_frames_and_assumptions_persist_once_on_both_backends(graph, chain, db) -> None:
    store = KnowledgeStore(db)
    first, _ = clarify(graph, chain, store=store)
    again, _ = clarify(graph, chain, store=store)  # the same attempt repeated (a retry)
    frames = store.frames("run-1", "prd")
    assert [f.frame_id for f in frames] == sorted(first.summary.frame_ids, key=frames_order(frames))
    assert {f.frame_id for f in frames} == set(again.summary.frame_ids)
    assumptions = store.assumptions("run-1", "prd")
    assert len(assumptions) == first.summary.unknown
    assert {a.claim for a in assumptions} == set(first.summary.assumptions)
    later, _ = clarify(graph, chain, store=store, attempt=2)  # a new attempt: new frames, same assumptions
    assert len(store.frames("run-1", "prd")) == len(frames) + len(later.frames)
    assert len(store.assumptions("run-1", "prd")) == len(assumptions)


def frames_order(frames):
    position = {f.frame_id: i for i, f in enumerate(frames)}
    return lambda fid: position[fid]


class ScriptedJudge:
    """A model stand-in: answers each Q/A/V task from a script and records the prompts it saw."""

    def __init__(self, verdict: Verdict = Verdict.ACCEPT, cite: bool = True, fail: bool = False) -> None:
        self.verdict, self.cite, self.fail = verdict, cite, fail
        self.prompts: dict[str, list[str]] = {}

    def __call__(self, task: str, prompt: str, output: type) -> Any:
        self.prompts.setdefault(task, []).append(prompt)
        if self.fail:
            raise ModelOutputError("the model returned malformed JSON")
        if output is QuestionDrafts:
            ids = [line.split("]")[0].lstrip("[") for line in prompt.splitlines() if line.startswith("[C-")]
            return QuestionDrafts(
                questions=[{"claim_id": i, "question": f"Why {i}?"} for i in ids[:3]]
                + [{"claim_id": "C-999", "question": "an invented claim"}]
            )
        if output is AnswerDraft:
            return AnswerDraft(answer="See the evidence.", evidence=["E1", "E9999"] if self.cite else [])
        return VerdictDraft(verdict=self.verdict, rationale="scripted")


def test_a_model_judge_backs_the_triad_but_cannot_accept_without_cited_evidence(graph, chain) -> None:
    judge = ScriptedJudge()
    result, _ = clarify(graph, chain, agents=judge_agents(judge, "prd"))
    assert result.summary.questions == 3  # the invented claim id was ignored
    assert result.summary.accepted == 3 and all(len(b.evidence) == 1 for b in result.summary.bindings)
    assert "<data>" in judge.prompts["qav.question"][0] and "DATA" in judge.prompts["qav.answer"][0]
    silent = ScriptedJudge(cite=False)
    result, _ = clarify(graph, chain, agents=judge_agents(silent, "prd"))
    assert result.summary.accepted == 0 and result.summary.unknown == 3
    assert "qav.validate" not in silent.prompts  # no evidence: never even asked to accept


def test_a_failing_model_judge_falls_back_to_the_offline_rules(graph, chain) -> None:
    offline, _ = clarify(graph, chain)
    failing, _ = clarify(graph, chain, agents=judge_agents(ScriptedJudge(fail=True), "prd"))
    assert failing.summary.model_dump(exclude={"frame_ids", "bindings"}) == offline.summary.model_dump(
        exclude={"frame_ids", "bindings"}
    )
