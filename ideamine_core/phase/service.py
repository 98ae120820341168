"""A phase's life in one place: plan, run agents, fan in, gate with auto-fix, record and announce.

The Dagster ops are thin calls into this. Each agent task goes through `TaskRunner` (lease,
heartbeat, budget, model or tool, durable result, ledger); the gate is `GateLoop` (guards, Q/A/V,
waivers, auto-fix re-runs up to `max_attempts`); every attempt is in the ledger and the evidence
store; a passed phase's artifacts get provenance, metrics and a signed ledger head; a passed release
phase publishes the dossier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, GateResult, PhaseArtifact, content_hash
from ideamine_core.domain.phase import Parallelism, PhaseConfig
from ideamine_core.dossier.publish import publish_dossier
from ideamine_core.errors import StaleFencingTokenError, TaskTakenOverError
from ideamine_core.ledger import DecisionPayload, GatePayload
from ideamine_core.metrics import phase_metrics, save_phase_metrics
from ideamine_core.phase.autofix import GateLoop, GateOutcome
from ideamine_core.phase.claims import GateContext
from ideamine_core.phase.fan_in import aggregate
from ideamine_core.phase.records import Records
from ideamine_core.phase.rerun import AgentRerun
from ideamine_core.phase.slots import agent_slot
from ideamine_core.phase.tasks import TaskRunner, acquire_lease, task_id_of
from ideamine_core.providers.base import Provider
from ideamine_core.resilience.checkpoints import StepCheckpointer
from ideamine_core.resilience.crash import crash_point
from ideamine_core.resilience.decisions import Decision, failure_from_error
from ideamine_core.resilience.heartbeat_thread import HeartbeatThread
from ideamine_core.resilience.supervisor import UnstickContext
from ideamine_core.runtime import Runtime
from ideamine_core.storage.markdown import render_artifact
from ideamine_core.storage.run_store import PhaseRecord
from ideamine_core.tracing import span_for_phase

AgentLookup = Callable[[str], AgentSpec]
DOSSIER_PHASE = "release"
"""The phase whose passing gate publishes the release dossier."""


class PhaseService:
    """Core operations behind each step of a phase."""

    def __init__(self, graph: PhaseGraph, runtime: Runtime, offline: Provider, agents: AgentLookup) -> None:
        self.graph = graph
        self.runtime = runtime
        self.store = runtime.store
        self.agents = agents
        self.tasks = TaskRunner(runtime, offline, agents, unstick=self.unstick)
        self.records = Records(runtime.db, runtime.store)

    def config(self, phase: str) -> PhaseConfig:
        """The phase's configuration."""
        return self.graph.phases[phase]

    def _emit(self, type_: str, run_id: str, phase: str | None, **data: Any) -> None:
        self.runtime.emit(type_, run_id, phase, **data)

    # --- plan ---------------------------------------------------------------------------------------

    def contexts(
        self, run_id: str, phase: str, direct: dict[str, PhaseArtifact] | None = None
    ) -> list[AgentContext]:
        """One context per agent: the idea and every upstream artifact of the phase."""
        config = self.config(phase)
        upstream = {p: self.store.load_artifact(run_id, p) for p in self.graph.upstream(phase)}
        upstream.update(direct or {})
        submission = self.store.load_run(run_id).submission
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

    def plan(
        self, run_id: str, phase: str, direct: dict[str, PhaseArtifact] | None = None
    ) -> list[AgentContext]:
        """Start the phase: record it running, announce it, and build one context per agent."""
        config = self.config(phase)
        contexts = self.contexts(run_id, phase, direct)
        record = self.store.load_run(run_id)
        if phase == self.graph.order()[0] or not self.runtime.provenance.get(run_id, "submission"):
            self.runtime.provenance.record_submission(run_id, record.submission)
        self.records.run(record, "running", self.runtime.settings.model)
        self.records.phase(run_id, PhaseRecord(phase=phase, status="running", started_at=time.time()))
        parallelism = str(getattr(config.parallelism, "value", config.parallelism))
        self._emit("phase.started", run_id, phase, agents=config.agent_names, parallelism=parallelism)
        self._emit("phase.progress", run_id, phase, done=0, total=len(config.agents))
        default = self.runtime.settings.model
        self.runtime.ledger.record(
            run_id,
            DecisionPayload(
                kind="dispatch",
                reason=f"run {len(config.agents)} agent(s) of {phase}, parallelism {parallelism}",
                phase=phase,
                detail={
                    "parallelism": parallelism,
                    "models": {a: ",".join(config.models_for(a)) or default for a in config.agent_names},
                },
            ),
        )
        return contexts

    # --- agents -------------------------------------------------------------------------------------

    def run_agent(self, ctx: AgentContext, done: int | None = None) -> AgentResult:
        """Run one agent task (within the phase's concurrency limit) and announce its completion."""
        config = self.config(ctx.phase)
        limit = config.max_concurrency
        if isinstance(config.parallelism, int) and limit:
            with agent_slot(self.store.run_dir(ctx.run_id) / "locks", ctx.phase, limit):
                result = self.tasks.run(ctx, config)
        else:
            result = self.tasks.run(ctx, config)
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
        return self.run_agent(ctx.model_copy(update={"previous": previous}), done=len(earlier) + 1)

    def run_iterative(self, contexts: Sequence[AgentContext]) -> list[AgentResult]:
        """Iterative mode: the agents in turn until a done signal or max_iterations, checkpointed.

        The loop holds its own task's lease (``<run>/<phase>/loop``) with a heartbeat while it runs.
        After every iteration it reports its progress through that heartbeat — the count in an agent's
        ``progress_field`` (the story loop: stories done), else the iterations done — as one sample
        for the supervisor's slope monitor, then checkpoints its state (the results so far); a loop
        restarted after a crash resumes after its last checkpoint. A loop whose lease was revoked (the
        supervisor saw it stalled or its progress flat) stops before its next step with
        TaskTakenOverError, which is retried from that checkpoint.
        """
        first = contexts[0]
        config = self.config(first.phase)
        with self._loop_lease(first, config) as beat:
            try:
                return self._iterate(contexts, config, beat)
            except StaleFencingTokenError as exc:
                raise TaskTakenOverError(beat.lease.task_id) from exc

    def _iterate(
        self, contexts: Sequence[AgentContext], config: PhaseConfig, beat: HeartbeatThread
    ) -> list[AgentResult]:
        first = contexts[0]
        checkpointer = StepCheckpointer(self.runtime.checkpoints, beat.lease.fence, run_id=first.run_id)
        start = checkpointer.resume()
        results = [AgentResult.model_validate(r) for r in start.state.get("results", [])]
        previous: dict[str, dict[str, Any]] = {r.agent: r.output for r in results}
        measured: float | None = None  # the latest count an agent's progress field reported
        for r in results:
            measured = _progress_of(r.output, self.agents(r.agent).progress_field, measured)
        for iteration in range(start.next_step, config.max_iterations):
            done = False
            for ctx in contexts:
                beat.raise_if_stopped()  # revoked meanwhile: start no step
                step = ctx.model_copy(update={"previous": dict(previous), "iteration": iteration})
                result = self.run_agent(step)
                beat.touch()
                results.append(result)
                previous[ctx.agent] = result.output
                spec = self.agents(ctx.agent)
                done = done or bool(spec.done_field and result.output.get(spec.done_field))
                measured = _progress_of(result.output, spec.progress_field, measured)
            progress = measured if measured is not None else float(iteration + 1)
            beat.report(progress)  # also confirms the lease is still ours before the checkpoint
            checkpointer.advance(iteration, {"results": [r.model_dump(mode="json") for r in results]})
            self._emit(
                "phase.progress",
                first.run_id,
                first.phase,
                iteration=iteration + 1,
                max_iterations=config.max_iterations,
                done_signal=done,
                progress=progress,
            )
            if done:
                break
        return results

    @contextmanager
    def _loop_lease(self, first: AgentContext, config: PhaseConfig) -> Iterator[HeartbeatThread]:
        """Hold the loop task's lease, beating it, while the loop runs; its fresh fencing token fences
        out a loop of an earlier execution (a dead worker's lease is taken over at once, a live holder's
        awaited, as for any task). The loop ends ``done``, or ``failed`` if it raised.

        Its beats vouch for it while its steps keep ending: up to twice the silence a step is allowed
        (``heartbeat.max_silence_seconds``, default the timebox), so a step stuck in a call is judged
        stalled by its own heartbeat first — one stuck call, one stall decision — and the loop only if
        it stays stuck (or its process stopped).
        """
        lease = acquire_lease(
            self.runtime.heartbeats,
            f"{first.run_id}/{first.phase}/loop",
            run_id=first.run_id,
            phase=first.phase,
            agent="loop",
            heartbeat=config.heartbeat,
        )
        silence = 2 * config.max_silence_seconds()
        with HeartbeatThread(self.runtime.heartbeats, lease, max_silence=silence) as beat:
            yield beat

    # --- gate ---------------------------------------------------------------------------------------

    def finish(self, run_id: str, phase: str, results: Sequence[AgentResult]) -> PhaseArtifact:
        """Gate the results with auto-fix, then fan in and record; the artifact carries its gate."""
        config = self.config(phase)
        crash_point("gate.evaluating")
        with span_for_phase(run_id, phase):
            outcome = self._gate(run_id, config, list(results))
        final = list(outcome.results)
        merged = aggregate(config.aggregation_strategy, final, config.custom_aggregator)
        ordered = sorted(final, key=lambda r: (r.iteration, r.agent))
        artifact = PhaseArtifact(
            phase=phase,
            results=ordered,
            aggregate=merged,
            aggregation_strategy=config.aggregation_strategy.value,
        )
        self._emit("phase.ready", run_id, phase, results=len(final), artifact_hash=artifact.hash())
        artifact.gate = outcome.final
        self._persist_upstream_fixes(run_id, outcome)
        self._record(run_id, artifact, outcome)
        return artifact

    def _gate(self, run_id: str, config: PhaseConfig, results: list[AgentResult]) -> GateOutcome:
        contexts = self.contexts(run_id, config.phase)
        loop = GateLoop(
            config,
            lambda name: self.agents(name).output_model,
            self.runtime.waivers,
            None,
            lambda kind, data: self._emit(kind, run_id, config.phase, **data),
            store=self.runtime.knowledge,
        )
        rerun = AgentRerun(self.run_agent, contexts, results, config)
        return loop.run(run_id, results, GateContext.of(contexts[0]), rerun)

    def _persist_upstream_fixes(self, run_id: str, outcome: GateOutcome) -> None:
        """A fix that re-ran an upstream agent (e.g. build's Implementer) updates that artifact."""
        from ideamine_core.phase.rerun import replace_result

        for result in outcome.upstream_results:
            artifact = replace_result(self.store.load_artifact(run_id, result.phase), result)
            self.store.save_artifact(run_id, artifact, render_artifact(artifact))
            self.runtime.ledger.record(
                run_id,
                DecisionPayload(
                    kind="upstream_fix",
                    reason=f"the gate of the downstream phase re-ran {result.agent}",
                    phase=result.phase,
                    agent=result.agent,
                    detail={"iteration": result.iteration, "output_hash": result.provenance.output_hash},
                ),
            )

    def _record(self, run_id: str, artifact: PhaseArtifact, outcome: GateOutcome) -> None:
        gate = outcome.final
        ledger = self.runtime.ledger
        for attempt, pack in zip(outcome.attempts, outcome.evidence, strict=True):
            self.store.save_evidence(run_id, pack)
            waived = [w.violation for w in attempt.waivers_applied]
            payload = GatePayload.from_gate(_attempt_gate(gate, attempt), waived=waived)
            # a later evaluation (resume after a waiver) is a new entry; the same one retried is not
            digest = content_hash(payload.model_dump(mode="json"))[7:23]
            ledger.record(run_id, payload, key=f"{payload.default_key()}:{digest}")
        status = "passed" if gate.passed else "escalated" if gate.escalate else "failed"
        record = self.store.load_phase(run_id, artifact.phase) or PhaseRecord(
            phase=artifact.phase, status=status
        )
        record.status, record.finished_at = status, time.time()
        record.gate_score, record.threshold, record.attempts = gate.score, gate.threshold, gate.attempts
        record.artifacts = len({r.agent for r in artifact.results})
        record.artifact_hash = artifact.hash()
        # a model that kept returning invalid output: its last raw output goes into the report
        calls = [r.call for r in artifact.results if r.call is not None]
        invalid = [c.error[:600] for c in calls if c.outcome == "invalid_output" and c.error]
        bound = [] if gate.passed else self._loop_bound(artifact)
        record.detail = "; ".join([*bound, *(f"{r.code}: {r.item}" for r in gate.reasons), *invalid])[:2000]
        self.records.phase(run_id, record)
        if gate.passed:
            self.runtime.provenance.record_phase_artifact(run_id, artifact)
            downstream = self.graph.downstream(artifact.phase, transitive=False)
            ledger.record(
                run_id,
                DecisionPayload(
                    kind="handoff",
                    reason=f"gate of {artifact.phase} passed ({gate.score:.2f} >= {gate.threshold:.2f}); "
                    f"{', '.join(downstream) or 'no phase'} may start",
                    phase=artifact.phase,
                    detail={"attempts": gate.attempts, "downstream": downstream},
                ),
            )
        else:
            self.store.save_artifact(
                run_id, artifact, render_artifact(artifact), name=f"{artifact.phase}.failed"
            )
        if gate.escalate:
            ledger.record(
                run_id,
                DecisionPayload(
                    kind="escalate",
                    reason=f"gate of {artifact.phase} failed {gate.attempts} attempt(s): a person decides",
                    phase=artifact.phase,
                    detail={"score": gate.score, "threshold": gate.threshold, "reasons": record.detail[:500]},
                ),
            )
        save_phase_metrics(self.runtime.db, run_id, artifact.phase, self._metrics(record))
        ledger.sign_head(run_id)

    def _loop_bound(self, artifact: PhaseArtifact) -> list[str]:
        """['the loop stopped at max_iterations …'] when an iterative phase ran out of iterations
        without a done signal (what the user should raise or fix first), else []."""
        config = self.config(artifact.phase)
        if config.parallelism is not Parallelism.ITERATIVE or not artifact.results:
            return []
        fields = {r.agent: self.agents(r.agent).done_field for r in artifact.results}
        if any(fields[r.agent] and r.output.get(fields[r.agent]) for r in artifact.results):
            return []
        if max(r.iteration for r in artifact.results) + 1 < config.max_iterations:
            return []
        return [
            f"the loop stopped at max_iterations ({config.max_iterations}) without a done signal: "
            f"raise max_iterations in {artifact.phase}.yaml or make each iteration do more"
        ]

    @staticmethod
    def _metrics(record: PhaseRecord) -> dict[str, float]:
        values = {"gate_attempts": float(record.attempts), "gate_score": record.gate_score or 0.0}
        if record.duration is not None:
            values["duration_seconds"] = round(record.duration, 3)
        return values

    def metrics(self, run_id: str, phase: str) -> dict[str, float]:
        """The phase's metrics as numbers (tokens, cost, duration, attempts, tasks), for metadata."""
        return phase_metrics(self.runtime.db, run_id, phase)

    def announce_gate(self, run_id: str, phase: str, gate: GateResult) -> None:
        """Emit the gate outcome and phase completion; publish the dossier; close a finished run."""
        if gate.passed and phase == DOSSIER_PHASE:
            dossier = publish_dossier(self.runtime.db, self.store, run_id)
            self._emit("dossier.published", run_id, phase, completeness=dossier.completeness_percent)
        reasons = [r.model_dump() for r in gate.reasons]
        kind = "phase.gate.passed" if gate.passed else "phase.gate.failed"
        self._emit(kind, run_id, phase, score=gate.score, threshold=gate.threshold, reasons=reasons)
        self._emit("phase.complete", run_id, phase, status="passed" if gate.passed else "failed")
        self.close_run_if_finished(run_id)

    def close_run_if_finished(self, run_id: str) -> None:
        """When every planned phase is final, set the run's status and emit `run.complete` / `run.failed`."""
        outcome = self.records.run_outcome(run_id)
        if outcome is None:
            return
        self.records.run(self.store.load_run(run_id), outcome, self.runtime.settings.model)
        self._emit("run.complete" if outcome == "passed" else "run.failed", run_id, None, status=outcome)

    def unstick(
        self,
        ctx: AgentContext,
        exc: BaseException,
        *,
        max_input_tokens: int | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> Decision | None:
        """The supervisor's decision for a task that failed with `exc` (recorded and announced);
        `max_input_tokens` and `evidence` are what the task knows of its input (a context too long)."""
        failure = failure_from_error(exc, run_id=ctx.run_id, phase=ctx.phase, task_id=task_id_of(ctx))
        if failure is None:
            return None
        if evidence:
            failure = failure.model_copy(update={"evidence": failure.evidence | evidence})
        config = self.config(ctx.phase)
        ladder = config.models_for(ctx.agent) or [self.runtime.settings.model]
        context = UnstickContext(
            model=getattr(exc, "model", None) or ladder[0],
            ladder=list(ladder),
            max_input_tokens=max_input_tokens,
        )
        return self.runtime.supervisor(self.graph.phases.values()).decide(failure, context)

    def record_error(self, run_id: str, phase: str, error: str) -> None:
        """Mark the phase as errored (an agent or step failed before the gate)."""
        record = self.store.load_phase(run_id, phase) or PhaseRecord(phase=phase, status="error")
        record.status, record.finished_at, record.detail = "error", time.time(), error[:500]
        self.records.phase(run_id, record)
        self.records.run(self.store.load_run(run_id), "failed", self.runtime.settings.model, detail=error)
        self._emit("run.failed", run_id, phase, status="error", error=error[:500])

    @staticmethod
    def is_sequential(config: PhaseConfig) -> bool:
        """True when agents must run one after another, each seeing the previous outputs."""
        return config.parallelism is Parallelism.SEQUENTIAL


def _attempt_gate(final: GateResult, attempt: Any) -> GateResult:
    """The gate result of one attempt (for its ledger entry)."""
    return final.model_copy(
        update={
            "score": attempt.score,
            "threshold": attempt.threshold,
            "passed": attempt.passed,
            "reasons": attempt.reasons,
            "attempts": attempt.attempt,
        }
    )


def _progress_of(output: dict[str, Any], field: str | None, default: float | None) -> float | None:
    """The loop progress an agent's output reports in `field` (a number, or a list: its length);
    `default` (the last known) when it has no such field or the value is not a count."""
    value = output.get(field) if field else None
    if isinstance(value, list):
        return float(len(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default
