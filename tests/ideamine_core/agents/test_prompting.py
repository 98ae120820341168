"""Every agent has its own Jinja2 prompt, rendered from its context: the idea, upstream outputs, earlier
outputs and the extra instruction — never provenance, so a context renders the same on every provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ideamine_core.agents.prompting import PROMPTS_DIR, render_prompt, template_name
from ideamine_core.agents.registry import AGENTS, PHASES, agents_of_phase
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import ConfigError

SUB = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)


def _artifact(phase: str, outputs: dict[str, dict[str, Any]]) -> PhaseArtifact:
    results = [
        AgentResult(
            agent=agent,
            phase=phase,
            output=output,
            provenance=Provenance(
                agent=agent,
                phase=phase,
                provider="openai",
                model="gpt-x",
                generator_version="v9",
                output_hash="h",
            ),
        )
        for agent, output in sorted(outputs.items())
    ]
    return PhaseArtifact(phase=phase, results=results, aggregate={}, aggregation_strategy="merge")


def _chain() -> list[AgentContext]:
    """A context for every agent, each phase seeing all earlier phases (outputs from the offline rules)."""
    contexts: list[AgentContext] = []
    upstream: dict[str, PhaseArtifact] = {}
    for phase in PHASES:
        previous: dict[str, dict[str, Any]] = {}
        for spec in agents_of_phase(phase):
            ctx = AgentContext(
                run_id="r",
                phase=phase,
                agent=spec.name,
                submission=SUB,
                upstream=dict(upstream),
                previous=dict(previous),
            )
            contexts.append(ctx)
            previous[spec.name] = spec.offline_rule(ctx).model_dump(mode="json")
        upstream[phase] = _artifact(phase, previous)
    return contexts


CHAIN = _chain()


def test_every_agent_has_its_own_template() -> None:
    files = {p.name for p in PROMPTS_DIR.glob("*.j2")}
    assert {template_name(name) for name in AGENTS} <= files


@pytest.mark.parametrize("ctx", CHAIN, ids=[c.agent for c in CHAIN])
def test_every_prompt_renders_its_inputs_and_no_provenance(ctx: AgentContext) -> None:
    spec = AGENTS[ctx.agent]
    prompt = render_prompt(spec, ctx)
    assert f"You are {spec.name}, an agent of the {spec.phase} phase" in prompt.instructions
    assert spec.output_model.__name__ in prompt.instructions
    assert prompt.user.startswith("# Task\n") and SUB.idea in prompt.user and "offline-capable" in prompt.user
    for phase, artifact in ctx.upstream.items():
        for result in artifact.results:
            assert f"## {phase} / {result.agent}" in prompt.user
            compact = json.dumps(result.output, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            assert compact in prompt.user
    for agent in ctx.previous:
        assert f"\n## {agent}\n" in prompt.user
    assert "gpt-x" not in prompt.user and "generator_version" not in prompt.user
    assert prompt.template == f"{spec.name}.j2" and prompt.template_digest.startswith("sha256:")


def test_prompt_sizes() -> None:
    sizes = {c.agent: len(render_prompt(AGENTS[c.agent], c).user) for c in CHAIN}
    largest = max(sizes, key=sizes.__getitem__)
    print(
        f"prompt sizes: {len(sizes)} agents, median {sorted(sizes.values())[len(sizes) // 2]:,} chars, "
        f"largest {largest} {sizes[largest]:,} chars"
    )
    assert all(size > 200 for size in sizes.values())


def test_instruction_and_iteration_are_rendered() -> None:
    spec = AGENTS["StoryReviewer"]
    ctx = AgentContext(
        run_id="r", phase="story_loop", agent=spec.name, submission=SUB, iteration=3, instruction="Be strict"
    )
    user = render_prompt(spec, ctx).user
    assert (
        "This is iteration 3 of an iterative phase" in user
        and "# Extra instruction for this run\nBe strict" in user
    )


def test_a_template_override_is_looked_up_first_and_a_missing_one_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "Persona_short.j2").write_text(
        '{% extends "_agent.j2" %}{% block task %}Just personas.{% endblock %}'
    )
    spec = AGENTS["Persona"]
    ctx = AgentContext(run_id="r", phase="ideation", agent="Persona", submission=SUB)
    prompt = render_prompt(spec, ctx, "Persona_short.j2", extra_dirs=[tmp_path])
    assert prompt.user.startswith("# Task\nJust personas.") and prompt.template == "Persona_short.j2"
    with pytest.raises(ConfigError, match="does not exist"):
        render_prompt(spec, ctx, "Nope.j2")


def test_rendering_is_deterministic() -> None:
    ctx = CHAIN[-1]
    assert render_prompt(AGENTS[ctx.agent], ctx) == render_prompt(AGENTS[ctx.agent], ctx.model_copy())
