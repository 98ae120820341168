"""Every shipped phase config's guards pass the offline provider's outputs at the first attempt, on
the demo idea and on other ordinary ideas, so the pipeline stays green with the gate loop wired in.
"""

from __future__ import annotations

import pytest
from gate_chain import artifact, contexts, default_graph, gate_context, run_ctx, run_phase, schema_of

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.phase.autofix import GateLoop
from ideamine_core.phase.rerun import AgentRerun

IDEAS = [
    # the demo idea of the acceptance scenarios
    IdeaSubmission(
        idea="Build a collaborative todo app with real-time sync",
        users=["remote teams"],
        constraints=["mobile-first", "offline-capable"],
    ),
    # a marketplace with payments and a privacy constraint, two user groups
    IdeaSubmission(
        idea="A marketplace where local farmers sell vegetables with payments and delivery",
        users=["farmers", "home cooks"],
        constraints=["GDPR compliant"],
    ),
    # a bare idea: no users, no constraints
    IdeaSubmission(idea="An AI study planner that sends reminders before exams"),
]


@pytest.mark.parametrize("sub", IDEAS, ids=["todo", "marketplace", "bare"])
def test_every_default_phase_passes_its_guards_at_the_first_attempt(sub: IdeaSubmission) -> None:
    graph = default_graph()
    chain = {}
    summary = []
    for phase in graph.order():
        config = graph.phases[phase]
        results = run_phase(graph, chain, phase, sub)
        rerun = AgentRerun(run_ctx, contexts(graph, chain, phase, sub), results, config)
        outcome = GateLoop(config, schema_of).run(
            "run-1", results, gate_context(graph, chain, phase, sub), rerun
        )
        first = outcome.attempts[0]
        assert first.passed, (phase, [(r.code, r.item, r.detail) for r in first.reasons])
        assert {g.guard for g in first.guards if not g.hard} >= {g.type for g in config.guards}
        summary.append(f"{phase} {first.score:.2f}")
        chain[phase] = artifact(graph, phase, outcome.results)
    print(f"{sub.idea[:30]}: " + ", ".join(summary))
