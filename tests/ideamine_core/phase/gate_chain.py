"""Helpers for gate tests: run the offline agents of every phase like the runtime does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ideamine_core.agents.registry import get_agent
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.config.loader import load_phase_configs
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance, content_hash
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import Parallelism
from ideamine_core.phase.claims import GateContext
from ideamine_core.phase.fan_in import aggregate

REPO = Path(__file__).resolve().parents[3]
Chain = dict[str, PhaseArtifact]


def default_graph() -> PhaseGraph:
    """The shipped phase configs."""
    return load_phase_configs(REPO / "phase_configs")


def schema_of(agent: str) -> Any:
    """The typed output model of an agent."""
    return get_agent(agent).output_model


def contexts(graph: PhaseGraph, chain: Chain, phase: str, sub: IdeaSubmission) -> list[AgentContext]:
    """One context per agent of `phase`, with every upstream artifact of the chain."""
    upstream = {p: chain[p] for p in graph.upstream(phase) if p in chain}
    return [
        AgentContext(
            run_id="run-1",
            phase=phase,
            agent=a.name,
            submission=sub,
            upstream=upstream,
            instruction=a.instruction,
        )
        for a in graph.phases[phase].agents
    ]


def run_ctx(ctx: AgentContext) -> AgentResult:
    """Run one agent's offline rule (the deterministic provider's generator) into an AgentResult."""
    output = get_agent(ctx.agent).offline_rule(ctx).model_dump(mode="json")
    provenance = Provenance(
        agent=ctx.agent,
        phase=ctx.phase,
        provider="offline",
        model="offline-rules",
        generator_version="test",
        output_hash=content_hash(output),
    )
    return AgentResult(
        agent=ctx.agent, phase=ctx.phase, output=output, provenance=provenance, iteration=ctx.iteration
    )


def run_phase(graph: PhaseGraph, chain: Chain, phase: str, sub: IdeaSubmission) -> list[AgentResult]:
    """The phase's agent results, honouring sequential and iterative modes."""
    config = graph.phases[phase]
    ctxs = contexts(graph, chain, phase, sub)
    results: list[AgentResult] = []
    if config.parallelism is Parallelism.ITERATIVE:
        previous: dict[str, Any] = {}
        for iteration in range(config.max_iterations):
            for ctx in ctxs:
                step = ctx.model_copy(update={"previous": dict(previous), "iteration": iteration})
                results.append(run_ctx(step))
                previous[ctx.agent] = results[-1].output
            if previous.get("StoryReviewer", {}).get("done"):
                break
        return results
    for ctx in ctxs:
        seen = {r.agent: r.output for r in results} if config.parallelism is Parallelism.SEQUENTIAL else {}
        results.append(run_ctx(ctx.model_copy(update={"previous": seen})))
    return results


def artifact(graph: PhaseGraph, phase: str, results: list[AgentResult]) -> PhaseArtifact:
    """A phase artifact from results, aggregated with the configured strategy."""
    config = graph.phases[phase]
    ordered = sorted(results, key=lambda r: (r.iteration, r.agent))
    return PhaseArtifact(
        phase=phase,
        results=ordered,
        aggregate=aggregate(config.aggregation_strategy, ordered),
        aggregation_strategy=config.aggregation_strategy.value,
    )


def build_chain(graph: PhaseGraph, sub: IdeaSubmission, upto: str | None = None) -> Chain:
    """Every phase in order (stopping before `upto`), each seeing its upstream artifacts."""
    chain: Chain = {}
    for phase in graph.order():
        if phase == upto:
            break
        chain[phase] = artifact(graph, phase, run_phase(graph, chain, phase, sub))
    return chain


def gate_context(graph: PhaseGraph, chain: Chain, phase: str, sub: IdeaSubmission) -> GateContext:
    """The evidence a gate of `phase` may use."""
    return GateContext(sub, {p: chain[p] for p in graph.upstream(phase) if p in chain})
