"""AgentRerun turns `run_agent(ctx)` into the `rerun(agent, instruction)` callback the gate loop needs:
each re-run sees the newest outputs its mode allows, is numbered after the drafts it supersedes,
carries the YAML instruction plus the fix, and an upstream re-run updates what later re-runs see.
"""

from __future__ import annotations

import pytest
from gate_chain import build_chain, contexts, default_graph, run_ctx, run_phase

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import AgentRef
from ideamine_core.phase.rerun import AgentRerun, replace_result

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
    return build_chain(graph, DEMO)


class Recorder:
    """run_agent that records every context it is given."""

    def __init__(self) -> None:
        self.seen: list[AgentContext] = []

    def __call__(self, ctx: AgentContext) -> AgentResult:
        self.seen.append(ctx)
        return run_ctx(ctx)


def rerun_for(graph, chain, phase: str, recorder: Recorder, config=None) -> AgentRerun:
    config = config or graph.phases[phase]
    upstream = {p: a for p, a in chain.items() if p != phase}
    return AgentRerun(recorder, contexts(graph, upstream, phase, DEMO), chain[phase].results, config)


def test_a_sequential_rerun_sees_the_newest_outputs_before_it(graph, chain) -> None:
    recorder = Recorder()
    rerun = rerun_for(graph, chain, "prd", recorder)
    first = rerun("StoryCutter", "Cover UC-7")
    rerun("PRDWriter", None)
    story_ctx, writer_ctx = recorder.seen
    assert story_ctx.previous == {} and story_ctx.iteration == 1
    assert "Instruction followed: Cover UC-7" in first.output["notes"]
    assert writer_ctx.previous == {"StoryCutter": first.output}  # not UXFlow and later agents
    assert writer_ctx.instruction is None


def test_the_yaml_instruction_is_kept_before_the_fix(graph, chain) -> None:
    config = graph.phases["ideation"]
    agents = [a if a.name != "Persona" else AgentRef(name="Persona", instruction="Name personas after cities")
              for a in config.agents]  # fmt: skip
    config = config.model_copy(update={"agents": agents})
    recorder = Recorder()
    upstream = {p: a for p, a in chain.items() if p != "ideation"}
    ctxs = [c.model_copy(update={"instruction": "Name personas after cities"}) if c.agent == "Persona" else c
            for c in contexts(graph, upstream, "ideation", DEMO)]  # fmt: skip
    AgentRerun(recorder, ctxs, chain["ideation"].results, config)("Persona", "Add a use case for Alex")
    assert recorder.seen[0].instruction == "Name personas after cities\n\nAdd a use case for Alex"
    assert recorder.seen[0].previous == {}  # parallel agents do not see each other


def test_an_iterative_rerun_sees_every_latest_output_and_continues_the_numbering(graph, chain) -> None:
    recorder = Recorder()
    rerun = rerun_for(graph, chain, "story_loop", recorder)
    last = max(r.iteration for r in chain["story_loop"].results if r.agent == "StoryReviewer")
    rerun("StoryReviewer", "Re-review")
    ctx = recorder.seen[0]
    assert ctx.iteration == last + 1 and set(ctx.previous) == {"StoryImplementer", "StoryReviewer"}


def test_an_upstream_rerun_updates_the_upstream_later_reruns_see(graph, chain) -> None:
    recorder = Recorder()
    rerun = rerun_for(graph, chain, "security", recorder)
    fixed = rerun("Implementer", "Remove the hard-coded key")
    build_ctx = recorder.seen[0]
    assert (
        build_ctx.phase == "build"
        and "build" not in build_ctx.upstream
        and "architecture" in build_ctx.upstream
    )
    assert set(build_ctx.previous) == {"Scaffolder", "TestWriter"} and build_ctx.iteration == 1
    rerun("Secrets", "Re-scan")
    scan_ctx = recorder.seen[1]
    assert scan_ctx.upstream["build"].output_of("Implementer") == fixed.output
    assert fixed in scan_ctx.upstream["build"].results


def test_an_agent_of_a_phase_that_is_not_upstream_is_refused(graph, chain) -> None:
    rerun = rerun_for(graph, chain, "ideation", Recorder())
    with pytest.raises(KeyError, match="not upstream"):
        rerun("Implementer", "fix")


def test_replace_result_recomputes_the_aggregate(graph, chain) -> None:
    artifact = chain["ideation"]
    newer = run_phase(graph, {"intake": chain["intake"]}, "ideation", DEMO)[0]
    newer = newer.model_copy(update={"output": {**newer.output, "notes": ["re-run"]}, "iteration": 1})
    updated = replace_result(artifact, newer)
    assert [r for r in updated.results if r.agent == newer.agent] == [newer]
    assert updated.aggregate["by_agent"][newer.agent]["notes"] == ["re-run"]
    assert len(updated.results) == len(artifact.results)
