"""Planning the split of a context too long for its model: the budget, the input, the parts, the merge."""

from __future__ import annotations

from typing import Any

from support import DEMO

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance
from ideamine_core.phase.chunking import (
    chunk_budget,
    chunks_of,
    largest_input,
    merge_context,
    part_context,
    plan_split,
)
from ideamine_core.providers.translate import context_limits
from ideamine_core.resilience.unstickers import approx_tokens


def _result(agent: str, output: dict[str, Any], iteration: int = 0) -> AgentResult:
    prov = Provenance(
        agent=agent, phase="prd", provider="offline", model="rules", generator_version="-", output_hash="-"
    )
    return AgentResult(agent=agent, phase="prd", output=output, provenance=prov, iteration=iteration)


def _ctx() -> AgentContext:
    results = [_result(f"Agent{i}", {"text": f"item {i} " * 200}) for i in range(6)] + [
        _result("Agent0", {"text": "old"}, iteration=-1)
    ]
    prd = PhaseArtifact(phase="prd", results=results, aggregate={}, aggregation_strategy="merge")
    small = PhaseArtifact(
        phase="intake", results=[_result("Classifier", {"c": 1})], aggregate={}, aggregation_strategy="merge"
    )
    return AgentContext(run_id="r", phase="architecture", agent="SystemDesigner", submission=DEMO,
                        upstream={"prd": prd, "intake": small}, instruction="be brief")  # fmt: skip


def test_the_budget_comes_from_the_reported_window_else_halves() -> None:
    assert chunk_budget(2000, 2200) == 1000  # no window named: half
    # window 1000 of the provider's tokens, the request counted 2200 of them for 2200 estimated: the
    # rest of the prompt (200) leaves 800 for the input, times the safety margin
    assert chunk_budget(2000, 2200, limit=1000, used=2200) == 640
    # the provider counts 1.5 tokens per estimated token: its window is 1000 estimated ones
    assert chunk_budget(2000, 2200, limit=1500, used=3300) == 640
    assert chunk_budget(2000, 2200, limit=150, used=2200) == 0  # the rest alone does not fit
    assert chunk_budget(2000, 2200, limit=100_000) == 1000  # never less than two parts


def test_the_largest_input_is_split_into_parts_that_fit() -> None:
    ctx = _ctx()
    name, size = largest_input(ctx)
    assert name == "phase:prd" and size > approx_tokens(DEMO.idea)
    plan = plan_split(ctx, name, 760)
    assert plan is not None and plan.count == 3 and all(s <= 760 for s in plan.sizes)
    parts = chunks_of(ctx, name, 760)
    assert [a for part in parts for a, _ in part] == [
        f"Agent{i}" for i in range(6)
    ]  # latest of each, in order
    assert plan_split(ctx, name, 100_000) is None  # one part is no split
    assert plan_split(ctx, name, 0) is None


def test_part_and_merge_contexts() -> None:
    ctx = _ctx()
    plan = plan_split(ctx, "phase:prd", 760)
    assert plan is not None
    second = part_context(ctx, plan, 1)
    assert [r.agent for r in second.upstream["prd"].results] == ["Agent2", "Agent3"]
    assert second.upstream["intake"] == ctx.upstream["intake"]
    assert second.instruction is not None and second.instruction.startswith("be brief")
    assert "this is part 2 of 3" in second.instruction
    merge = merge_context(ctx, plan, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert "prd" not in merge.upstream and "intake" in merge.upstream
    assert merge.previous == {f"SystemDesigner (part {i} of 3)": {"n": i} for i in (1, 2, 3)}
    assert merge.instruction is not None and "read in 3 parts" in merge.instruction


def test_the_idea_is_split_as_text() -> None:
    idea = "\n\n".join(f"Paragraph {i}: " + "words " * 100 for i in range(8))
    ctx = AgentContext(
        run_id="r", phase="intake", agent="Classifier", submission=DEMO.model_copy(update={"idea": idea})
    )
    name, size = largest_input(ctx)
    assert name == "idea"
    plan = plan_split(ctx, name, chunk_budget(size, size + 100))
    assert plan is not None and plan.count == 2
    parts = [part_context(ctx, plan, i).submission.idea for i in range(plan.count)]
    assert "".join(parts).replace("\n", "").replace(" ", "") == idea.replace("\n", "").replace(" ", "")
    merge = merge_context(ctx, plan, [{}, {}])
    assert approx_tokens(merge.submission.idea) <= plan.max_tokens // 4 + 20


def test_the_window_and_request_size_are_read_from_the_error() -> None:
    openai = (
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens."
    )
    assert context_limits(openai) == (8192, 9120)
    assert context_limits("prompt is too long: 208310 tokens > 200000 maximum") == (200000, 208310)
    assert context_limits("too long") == (None, None)
