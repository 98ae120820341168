"""A phase's life in one place: plan, run agents, fan in, gate, record and announce."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ideamine_core.agents.runner import run_agent
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, EvidencePack, GateResult, PhaseArtifact
from ideamine_core.domain.phase import Parallelism, PhaseConfig
from ideamine_core.events import EventBus
from ideamine_core.phase.fan_in import aggregate
from ideamine_core.phase.gate import evaluate_artifacts
from ideamine_core.phase.slots import agent_slot
from ideamine_core.providers.base import Provider
from ideamine_core.providers.caller import ModelCaller
from ideamine_core.storage.markdown import render_artifact
from ideamine_core.storage.run_store import PhaseRecord, RunStore

AgentLookup = Callable[[str], AgentSpec]


class PhaseService:
    """Core operations behind each step of a phase; the Dagster ops are thin calls into this."""

    def __init__(
        self,
        graph: PhaseGraph,
        store: RunStore,
        provider: ModelCaller | Provider,
        agents: AgentLookup,
        bus: EventBus | None = None,
    ) -> None:
        self.graph = graph
        self.store = store
        self.provider = provider
        self.agents = agents
        self.bus = bus or EventBus()
        self._sinks: set[str] = set()

    def config(self, phase: str) -> PhaseConfig:
        """The phase's configuration."""
        return self.graph.phases[phase]

    def _emit(self, type_: str, run_id: str, phase: str, **data: Any) -> None:
        if run_id not in self._sinks:
            self.bus.subscribe("*", self.store.event_log(run_id))
            self._sinks.add(run_id)
        self.bus.emit(type_, run_id, phase, **data)

    def plan(
        self, run_id: str, phase: str, direct: dict[str, PhaseArtifact] | None = None
    ) -> list[AgentContext]:
        """Start the phase: record it running, announce it, and build one context per agent."""
        config = self.config(phase)
        upstream = {p: self.store.load_artifact(run_id, p) for p in self.graph.upstream(phase)}
        upstream.update(direct or {})
        submission = self.store.load_run(run_id).submission
        self.store.save_phase(run_id, PhaseRecord(phase=phase, status="running", started_at=time.time()))
        self._emit(
            "phase.started",
            run_id,
            phase,
            agents=config.agent_names,
            parallelism=str(getattr(config.parallelism, "value", config.parallelism)),
        )
        self._emit("phase.progress", run_id, phase, done=0, total=len(config.agents))
        return [
            AgentContext(
                run_id=run_id,
                phase=phase,
                agent=ref.name,
                submission=submission,
                upstream=upstream,
                instruction=ref.instruction,
            )
            for ref in config.agents
        ]

    def run_agent(self, ctx: AgentContext, done: int | None = None) -> AgentResult:
        """Run one agent (within the phase's concurrency limit) and announce its completion."""
        config = self.config(ctx.phase)
        spec = self.agents(ctx.agent)
        limit = config.max_concurrency
        if isinstance(config.parallelism, int) and limit:
            lock_dir = self.store.run_dir(ctx.run_id) / "locks"
            with agent_slot(lock_dir, ctx.phase, limit):
                result = run_agent(spec, ctx, self.provider, models=config.models_for(ctx.agent))
        else:
            result = run_agent(spec, ctx, self.provider, models=config.models_for(ctx.agent))
        self._emit(
            "phase.agent.complete",
            ctx.run_id,
            ctx.phase,
            agent=ctx.agent,
            iteration=ctx.iteration,
            output_hash=result.provenance.output_hash,
        )
        if done is not None:
            self._emit("phase.progress", ctx.run_id, ctx.phase, done=done, total=len(config.agents))
        return result

    def run_after(self, ctx: AgentContext, earlier: Sequence[AgentResult]) -> AgentResult:
        """Sequential mode: run `ctx`'s agent with the outputs of the agents before it."""
        previous = {r.agent: r.output for r in earlier}
        result = self.run_agent(ctx.model_copy(update={"previous": previous}), done=len(earlier) + 1)
        return result

    def run_iterative(self, contexts: Sequence[AgentContext]) -> list[AgentResult]:
        """Iterative mode: run the agents in turn, repeatedly, until a done signal or max_iterations."""
        first = contexts[0]
        config = self.config(first.phase)
        results: list[AgentResult] = []
        previous: dict[str, dict[str, Any]] = {}
        for iteration in range(config.max_iterations):
            done = False
            for ctx in contexts:
                step = ctx.model_copy(update={"previous": dict(previous), "iteration": iteration})
                result = self.run_agent(step)
                results.append(result)
                previous[ctx.agent] = result.output
                field = self.agents(ctx.agent).done_field
                done = done or bool(field and result.output.get(field))
            self._emit(
                "phase.progress",
                first.run_id,
                first.phase,
                iteration=iteration + 1,
                max_iterations=config.max_iterations,
                done_signal=done,
            )
            if done:
                break
        return results

    def finish(self, run_id: str, phase: str, results: Sequence[AgentResult]) -> PhaseArtifact:
        """Fan in, gate and record; the artifact carries its gate result."""
        config = self.config(phase)
        merged = aggregate(config.aggregation_strategy, results, config.custom_aggregator)
        ordered = sorted(results, key=lambda r: (r.iteration, r.agent))
        artifact = PhaseArtifact(
            phase=phase,
            results=ordered,
            aggregate=merged,
            aggregation_strategy=config.aggregation_strategy.value,
        )
        self._emit("phase.ready", run_id, phase, results=len(results), artifact_hash=artifact.hash())
        gate = evaluate_artifacts(config, results, lambda name: self.agents(name).output_model)
        artifact.gate = gate
        record = self._record(run_id, phase, artifact, gate)
        self.store.save_evidence(
            run_id,
            EvidencePack(
                phase=phase,
                attempt=gate.attempts,
                artifact_hash=artifact.hash(),
                artifacts={r.agent: r.provenance.output_hash for r in ordered},
                gate=gate,
                metrics={
                    "agents": len(config.agents),
                    "results": len(results),
                    "duration_seconds": round(record.duration or 0.0, 3),
                },
            ),
        )
        if not gate.passed:
            self.store.save_artifact(run_id, artifact, render_artifact(artifact), name=f"{phase}.failed")
        return artifact

    def _record(self, run_id: str, phase: str, artifact: PhaseArtifact, gate: GateResult) -> PhaseRecord:
        record = self.store.load_phase(run_id, phase) or PhaseRecord(phase=phase, status="running")
        record.status = "passed" if gate.passed else "failed"
        record.finished_at = time.time()
        record.gate_score, record.threshold, record.attempts = gate.score, gate.threshold, gate.attempts
        record.artifacts = len({r.agent for r in artifact.results})
        record.artifact_hash = artifact.hash()
        record.detail = "; ".join(f"{r.code}: {r.item}" for r in gate.reasons)
        self.store.save_phase(run_id, record)
        return record

    def announce_gate(self, run_id: str, phase: str, gate: GateResult) -> None:
        """Emit the gate outcome and phase completion, in that order."""
        reasons = [r.model_dump() for r in gate.reasons]
        kind = "phase.gate.passed" if gate.passed else "phase.gate.failed"
        self._emit(kind, run_id, phase, score=gate.score, threshold=gate.threshold, reasons=reasons)
        self._emit("phase.complete", run_id, phase, status="passed" if gate.passed else "failed")

    def record_error(self, run_id: str, phase: str, error: str) -> None:
        """Mark the phase as errored (an agent or step failed before the gate)."""
        record = self.store.load_phase(run_id, phase) or PhaseRecord(phase=phase, status="error")
        record.status, record.finished_at, record.detail = "error", time.time(), error[:500]
        self.store.save_phase(run_id, record)

    @staticmethod
    def is_sequential(config: PhaseConfig) -> bool:
        """True when agents must run one after another, each seeing the previous outputs."""
        return config.parallelism is Parallelism.SEQUENTIAL
