"""Loop-until-pass: a failed attempt gets a fix chosen from its reasons, applied by re-running agents.

The fix strategy follows the failure (coverage → the owner gets the gap; contradictions → the owner
gets both items; schema → the validation error; security blockers → the build agent that wrote the
file, then a re-scan; grounding → stricter Q/A/V); sequential phases re-run the followers too. A
phase whose first draft misses coverage passes on attempt 2; a never-fixable failure stops after
exactly `max_attempts` and escalates. Re-runs use the real offline rules through `AgentRerun`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gate_chain import (
    artifact,
    build_chain,
    contexts,
    default_graph,
    gate_context,
    run_ctx,
    run_phase,
    schema_of,
)

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.phase.autofix import GateLoop, choose_fix
from ideamine_core.phase.gatekeeper import Gatekeeper
from ideamine_core.phase.rerun import AgentRerun

DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def graph():
    return default_graph()


@pytest.fixture(scope="module")
def chain(graph):
    return build_chain(graph, DEMO)


def edited(results: list[AgentResult], agent: str, change) -> list[AgentResult]:
    out = []
    for r in results:
        if r.agent == agent:
            output = copy.deepcopy(r.output)
            change(output)
            r = r.model_copy(update={"output": output})
        out.append(r)
    return out


def with_gate(config: PhaseConfig, **gate: Any) -> PhaseConfig:
    return config.model_copy(update={"gate": config.gate.model_copy(update=gate)})


def drop_uc7(output: dict[str, Any]) -> None:
    output["stories"] = [s for s in output["stories"] if s["use_case_id"] != "UC-7"]


def gap_until_told(ctx: AgentContext) -> AgentResult:
    """A scripted StoryCutter: forgets UC-7 unless the instruction names that gap."""
    result = run_ctx(ctx)
    if ctx.agent == "StoryCutter" and "UC-7" not in (ctx.instruction or ""):
        output = copy.deepcopy(result.output)
        drop_uc7(output)
        result = result.model_copy(update={"output": output})
    return result


def first_draft(graph, chain, phase: str, runner) -> tuple[list[AgentContext], list[AgentResult]]:
    """Run a sequential phase with `runner`, each agent seeing the outputs before it."""
    ctxs = contexts(graph, chain, phase, DEMO)
    results: list[AgentResult] = []
    for ctx in ctxs:
        results.append(runner(ctx.model_copy(update={"previous": {r.agent: r.output for r in results}})))
    return ctxs, results


def test_a_first_draft_missing_coverage_passes_on_attempt_2_after_the_coverage_fix(graph, chain) -> None:
    upstream = {p: a for p, a in chain.items() if p != "prd"}
    ctxs, results = first_draft(graph, upstream, "prd", gap_until_told)
    config = graph.phases["prd"]
    calls: list[tuple[str, str | None]] = []
    rerun = AgentRerun(gap_until_told, ctxs, results, config)

    def recording(agent: str, instruction: str | None) -> AgentResult:
        calls.append((agent, instruction))
        return rerun(agent, instruction)

    events: list[tuple[str, dict]] = []
    loop = GateLoop(config, schema_of, emit=lambda t, d: events.append((t, d)))
    outcome = loop.run("run-1", results, gate_context(graph, upstream, "prd", DEMO), recording)
    assert outcome.passed and not outcome.escalate and len(outcome.attempts) == 2
    assert outcome.final.attempts == 2 and [a.passed for a in outcome.final.history] == [False, True]
    first = outcome.attempts[0]
    assert any(r.code == "coverage" and r.item == "UC-7" for r in first.reasons)
    assert first.fix is not None and first.fix.strategies[0] == "coverage"
    assert [a for a, _ in calls] == ["StoryCutter", "PRDWriter", "UXFlow", "NFRs", "TraceMatrix"]
    assert "UC-7" in (calls[0][1] or "") and "Cover each of these gaps" in (calls[0][1] or "")
    stories = next(r for r in outcome.results if r.agent == "StoryCutter").output["stories"]
    assert any(s["use_case_id"] == "UC-7" for s in stories)
    assert [r.agent for r in outcome.results] == config.agent_names  # one final result per agent
    assert [e.attempt for e in outcome.evidence] == [1, 2] and outcome.evidence[1].fix_applied == first.fix
    assert [t for t, _ in events] == ["kmap.delta.created", "phase.gate.autofix", "kmap.delta.created"]
    assert [d["attempt"] for t, d in events if t == "kmap.delta.created"] == [1, 2]


def test_a_never_fixable_failure_stops_after_exactly_max_attempts_and_escalates(graph, chain) -> None:
    config = with_gate(graph.phases["ideation"], max_attempts=3)
    broken = edited(chain["ideation"].results, "Persona", lambda o: o.update(personas=[]))
    reruns: list[str] = []

    def still_broken(agent: str, instruction: str | None) -> AgentResult:
        reruns.append(agent)
        return next(r for r in broken if r.agent == agent)

    events: list[tuple[str, dict]] = []
    loop = GateLoop(config, schema_of, emit=lambda t, d: events.append((t, d)))
    outcome = loop.run("run-1", broken, gate_context(graph, chain, "ideation", DEMO), still_broken)
    assert not outcome.passed and outcome.escalate and outcome.final.escalate
    assert len(outcome.attempts) == 3 and outcome.final.attempts == 3 and len(outcome.evidence) == 3
    assert [a.fix is not None for a in outcome.attempts] == [True, True, False]
    assert reruns == ["Persona", "Persona"]
    assert any(r.code == "invalid_schema" and r.item == "Persona" for r in outcome.final.reasons)
    gate_events = [t for t, _ in events if t.startswith("phase.gate.")]
    assert gate_events == ["phase.gate.autofix", "phase.gate.autofix", "phase.gate.escalated"]
    assert (
        events[-1][1]["attempts"] == 3
        and {"code": "invalid_schema", "item": "Persona"} in events[-1][1]["reasons"]
    )


def test_auto_fix_disabled_evaluates_once(graph, chain) -> None:
    config = with_gate(graph.phases["ideation"], auto_fix_enabled=False)
    broken = edited(chain["ideation"].results, "Persona", lambda o: o.update(personas=[]))

    def no_rerun(agent: str, instruction: str | None) -> AgentResult:
        raise AssertionError("auto-fix is disabled")

    outcome = GateLoop(config, schema_of).run(
        "run-1", broken, gate_context(graph, chain, "ideation", DEMO), no_rerun
    )
    assert len(outcome.attempts) == 1 and outcome.escalate


def plan_for(graph, chain, phase: str, results: list[AgentResult]):
    config = graph.phases[phase]
    context = gate_context(graph, chain, phase, DEMO)
    gate = Gatekeeper(config, schema_of).evaluate("run-1", 1, results, context).gate
    assert not gate.passed
    return choose_fix(gate, config, context, results)


def add_contradiction(output: dict[str, Any]) -> None:
    output["requirements"].append(
        {
            "id": "REQ-11",
            "text": "The product shall not be offline-capable.",
            "priority": "must",
            "story_ids": [],
        }
    )


@pytest.mark.parametrize(
    ("phase", "agent", "change", "strategy", "agents", "needle"),
    [
        # a schema error in a sequential phase: that agent re-asked with the error, then its followers
        ("prd", "UXFlow", lambda o: o.update(flows=[]), "schema", ["UXFlow", "NFRs", "TraceMatrix"], "flows"),
        # a contradiction: the owning agent gets both conflicting items
        ("prd", "PRDWriter", add_contradiction, "contradictions",
         ["PRDWriter", "UXFlow", "NFRs", "TraceMatrix"], "REQ-10 ↔ REQ-11"),
        # a coverage gap in a parallel phase: only the owner re-runs
        ("ideation", "Persona", lambda o: o.update(use_cases=o["use_cases"][:1]), "coverage", ["Persona"],
         "has no use case"),
    ],
)  # fmt: skip
def test_the_fix_follows_the_failure(graph, chain, phase, agent, change, strategy, agents, needle) -> None:
    plan = plan_for(graph, chain, phase, edited(chain[phase].results, agent, change))
    assert plan.strategies[0] == strategy
    assert [a.agent for a in plan.actions] == agents
    assert needle in plan.actions[0].instruction and plan.actions[0].phase is None


def test_grounding_failure_raises_the_qav_level(graph, chain) -> None:
    config = graph.phases["ideation"]
    strict = config.model_copy(
        update={
            "guards": [
                g.model_copy(update={"threshold": 0.99}) if g.type == "grounding" else g
                for g in config.guards
            ]
        }
    )
    context = gate_context(graph, chain, "ideation", DEMO)
    results = chain["ideation"].results
    gate = Gatekeeper(strict, schema_of).evaluate("run-1", 1, results, context).gate
    plan = choose_fix(gate, strict, context, results, qav_level=1)
    assert "grounding" in plan.strategies and plan.qav_level == 2
    assert all("not supported by the idea" in a.instruction for a in plan.actions)


def plant_key(output: dict[str, Any]) -> None:
    service = next(f for f in output["files"] if f["path"].endswith("/service.py"))
    service["content"] += f'\n\nAWS_KEY = "{AWS_KEY}"\n'


def test_a_leaked_secret_is_fixed_by_the_build_agent_then_rescanned(graph, chain) -> None:
    build = artifact(graph, "build", edited(chain["build"].results, "Implementer", plant_key))
    upstream = {p: a for p, a in chain.items() if p not in ("security",)} | {"build": build}
    results = run_phase(graph, upstream, "security", DEMO)
    config = graph.phases["security"]
    calls: list[str] = []
    rerun = AgentRerun(run_ctx, contexts(graph, upstream, "security", DEMO), results, config)

    def recording(agent: str, instruction: str | None) -> AgentResult:
        calls.append(agent)
        return rerun(agent, instruction)

    outcome = GateLoop(config, schema_of).run(
        "run-1", results, gate_context(graph, upstream, "security", DEMO), recording
    )
    first = outcome.attempts[0]
    assert not first.passed and {g.guard for g in first.guards if not g.passed} >= {
        "blockers",
        "secrets_found",
    }
    assert first.fix.actions[0].agent == "Implementer" and first.fix.actions[0].phase == "build"
    assert (
        "service.py" in first.fix.actions[0].instruction and AWS_KEY not in first.fix.actions[0].instruction
    )
    assert calls[:2] == ["Implementer", "Secrets"]
    assert outcome.passed and len(outcome.attempts) == 2
    assert [r.agent for r in outcome.upstream_results] == ["Implementer"]
    assert AWS_KEY not in str(outcome.upstream_results[0].output)
    assert AWS_KEY not in outcome.final.model_dump_json() + "".join(
        e.model_dump_json() for e in outcome.evidence
    )


def test_rerun_results_are_numbered_after_the_drafts_they_supersede(graph, chain) -> None:
    config = with_gate(graph.phases["ideation"], max_attempts=2)
    broken = edited(chain["ideation"].results, "Persona", lambda o: o.update(personas=[]))
    fixed = next(r for r in chain["ideation"].results if r.agent == "Persona")  # iteration 0, like the draft
    outcome = GateLoop(config, schema_of).run(
        "run-1", broken, gate_context(graph, chain, "ideation", DEMO), lambda agent, instruction: fixed
    )
    assert outcome.passed and len(outcome.attempts) == 2
    assert next(r for r in outcome.results if r.agent == "Persona").iteration == 1


def test_a_rerun_that_returns_another_agent_is_a_programming_error(graph, chain) -> None:
    broken = edited(chain["ideation"].results, "Persona", lambda o: o.update(personas=[]))
    other = next(r for r in chain["ideation"].results if r.agent == "Strategy")
    with pytest.raises(ValueError, match="returned a result of agent 'Strategy'"):
        GateLoop(graph.phases["ideation"], schema_of).run(
            "run-1", broken, gate_context(graph, chain, "ideation", DEMO), lambda agent, instruction: other
        )
