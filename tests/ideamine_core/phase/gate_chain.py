"""Helpers for gate tests: run the offline agents of every phase like the runtime does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ideamine_core.agents.registry import agent_names, get_agent
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.config.loader import load_phase_configs
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance, content_hash
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import Parallelism
from ideamine_core.phase.claims import GateContext
from ideamine_core.phase.fan_in import aggregate
from ideamine_core.settings import Settings
from ideamine_core.storage.markdown import render_artifact
from ideamine_core.storage.run_store import RunStore

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


def stored_upstream(
    settings: Settings, phase: str, sub: IdeaSubmission, **config: Any
) -> tuple[PhaseGraph, str, Chain]:
    """`phase`'s YAML under `settings.config_dir` updated with `config`, and a new run of `sub` whose
    upstream artifacts of `phase` (made by the offline rules) are stored: (graph, run id, chain)."""
    path = settings.config_dir / f"{phase}.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | config, sort_keys=False))
    graph = load_phase_configs(settings.config_dir, agent_names())
    store = RunStore(settings.runs_dir)
    run_id = store.create(store.new_run_id(sub), sub, [phase]).run_id
    chain: Chain = {}
    for name in graph.order():
        if name in graph.upstream(phase):
            chain[name] = artifact(graph, name, run_phase(graph, chain, name, sub))
            store.save_artifact(run_id, chain[name], render_artifact(chain[name]))
    return graph, run_id, chain
