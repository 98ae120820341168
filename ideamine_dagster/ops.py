"""Op factories for one phase: plan (fan-out), agent tasks, and fan-in + gate.

No `from __future__ import annotations` here: Dagster inspects the annotations of op functions.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, score_verdict
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import IdeaMineError, RetryClass
from ideamine_core.providers.accounting import usage_by_agent
from ideamine_dagster.metadata import gate_history_metadata, gate_metadata, phase_metrics_metadata
from ideamine_dagster.resources import IdeaMineResource
from ideamine_dagster.step_errors import redacted, step_error
from ideamine_dagster.trace_steps import in_phase, phase_span

GATE_CHECK = "gate"


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


AGENT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
"""Unexpected errors (bugs, crashes of a library) get two more tries; classified errors decide themselves."""


def _fail(service: Any, run_id: str, phase: str, exc: Exception) -> dg.Failure:
    text = redacted(exc.explain() if isinstance(exc, IdeaMineError) else f"{type(exc).__name__}: {exc}")
    service.record_error(run_id, phase, text)
    return dg.Failure(f"phase {phase} failed: {text}", allow_retries=not isinstance(exc, IdeaMineError))


def _task_failed(service: Any, ctx: AgentContext, exc: IdeaMineError, retry_number: int) -> Exception:
    """A classified task error at the Dagster boundary: retry it (transient, rate limit) or fail for good.

    The supervisor's decision (back off, fall back, stop on budget, …) is recorded in the ledger and
    announced first; fatal and validation errors are never retried by Dagster.
    """
    decision = service.unstick(ctx, exc)
    retryable = exc.retry_class in (RetryClass.TRANSIENT, RetryClass.RATE_LIMIT)
    # refused by an open circuit breaker, or `x-should-retry: false`: another try in seconds changes nothing
    retryable = retryable and not getattr(exc, "non_retryable", False)
    if retryable and retry_number < TASK_RETRIES:
        wait = float((decision.plan.get("delay_seconds") if decision else None) or 2.0**retry_number)
        return dg.RetryRequested(max_retries=TASK_RETRIES, seconds_to_wait=wait)
    text = redacted(exc.explain())
    service.record_error(ctx.run_id, ctx.phase, text)
    return dg.Failure(f"agent {ctx.agent} of phase {ctx.phase} failed: {text}", allow_retries=False)


TASK_RETRIES = 3


def plan_op(config: PhaseConfig, deps: list[str], dynamic: bool) -> dg.OpDefinition:
    """The plan step: contexts for every agent, as dynamic outputs (fan-out) or one list."""
    out = dg.DynamicOut(AgentContext) if dynamic else dg.Out(list)

    @dg.op(
        name=f"{config.phase}__plan",
        ins={d: dg.In() for d in deps},
        out=out,
        tags={"ideamine/phase": config.phase, "ideamine/step": "plan"},
    )
    def _plan(context: dg.OpExecutionContext, ideamine: IdeaMineResource, **upstream: Any) -> Iterator[Any]:
        service = ideamine.service()
        try:
            with phase_span(context, config.phase):
                contexts = service.plan(context.partition_key, config.phase, upstream)
        except IdeaMineError as exc:
            raise _fail(service, context.partition_key, config.phase, exc) from step_error(exc)
        except Exception as exc:  # a bug: Dagster records it, redacted
            raise step_error(exc) from None
        if not dynamic:
            yield dg.Output(contexts)
            return
        for ctx in contexts:
            yield dg.DynamicOutput(ctx, mapping_key=_snake(ctx.agent))

    return _plan


def agent_op(config: PhaseConfig) -> dg.OpDefinition:
    """The mapped agent step of a parallel phase: one step per agent."""

    @dg.op(
        name=f"{config.phase}__agent",
        tags={"ideamine/phase": config.phase, "ideamine/step": "agent"},
        retry_policy=AGENT_RETRY,
    )
    def _agent(context: dg.OpExecutionContext, ideamine: IdeaMineResource, task: AgentContext) -> AgentResult:
        service = ideamine.service()
        try:
            with in_phase(context, config.phase):
                return service.run_agent(task)
        except IdeaMineError as exc:
            raise _task_failed(service, task, exc, context.retry_number) from step_error(exc)
        except Exception as exc:  # a bug: retried by AGENT_RETRY, recorded redacted
            raise step_error(exc) from None

    return _agent


def chained_agent_op(config: PhaseConfig, agent: str, index: int) -> dg.OpDefinition:
    """One step of a sequential phase: runs `agent` with the outputs of the agents before it."""
    ins = {"contexts": dg.In(list)} | ({"earlier": dg.In(list)} if index else {})

    @dg.op(
        name=f"{config.phase}__{_snake(agent)}",
        ins=ins,
        tags={"ideamine/phase": config.phase, "ideamine/step": "agent"},
        retry_policy=AGENT_RETRY,
    )
    def _chained(
        context: dg.OpExecutionContext,
        ideamine: IdeaMineResource,
        contexts: list,
        earlier: list | None = None,
    ) -> list:
        done = list(earlier or [])
        service = ideamine.service()
        try:
            with in_phase(context, config.phase):
                return [*done, service.run_after(contexts[index], done)]
        except IdeaMineError as exc:
            raise _task_failed(service, contexts[index], exc, context.retry_number) from step_error(exc)
        except Exception as exc:  # a bug: retried by AGENT_RETRY, recorded redacted
            raise step_error(exc) from None

    return _chained


def iterate_op(config: PhaseConfig) -> dg.OpDefinition:
    """The loop step of an iterative phase: agents in turn until done or max_iterations (checkpointed)."""

    @dg.op(
        name=f"{config.phase}__iterate",
        tags={"ideamine/phase": config.phase, "ideamine/step": "agent"},
        retry_policy=AGENT_RETRY,
    )
    def _iterate(context: dg.OpExecutionContext, ideamine: IdeaMineResource, contexts: list) -> list:
        service = ideamine.service()
        try:
            with in_phase(context, config.phase):
                return service.run_iterative(contexts)
        except IdeaMineError as exc:
            raise _task_failed(service, contexts[0], exc, context.retry_number) from step_error(exc)
        except Exception as exc:  # a bug: retried by AGENT_RETRY, recorded redacted
            raise step_error(exc) from None

    return _iterate


def gate_op(config: PhaseConfig) -> dg.OpDefinition:
    """Fan-in and gate: yields the artifact, then the blocking check; a failed gate stores nothing."""

    @dg.op(
        name=f"{config.phase}__gate",
        ins={"results": dg.In(list)},
        out={
            "result": dg.Out(is_required=False, io_manager_key="artifact_io_manager"),
            GATE_CHECK: dg.Out(is_required=False),
        },
        tags={"ideamine/phase": config.phase, "ideamine/step": "gate"},
    )
    def _gate(context: dg.OpExecutionContext, ideamine: IdeaMineResource, results: list) -> Iterator[Any]:
        service, run_id = ideamine.service(), context.partition_key
        try:
            with in_phase(context, config.phase):
                artifact = service.finish(run_id, config.phase, results)
        except IdeaMineError as exc:
            raise _fail(service, run_id, config.phase, exc) from step_error(exc)
        except Exception as exc:  # a bug: Dagster records it, redacted
            raise step_error(exc) from None
        gate = artifact.gate
        assert gate is not None
        metadata = gate_metadata(gate) | gate_history_metadata(gate)
        if gate.passed:
            usage = usage_by_agent(r.call for r in results)
            numbers = phase_metrics_metadata(service.metrics(run_id, config.phase), usage)
            yield dg.Output(artifact, "result", metadata=metadata | numbers)
        yield dg.AssetCheckResult(
            check_name=GATE_CHECK,
            passed=gate.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
        )
        service.announce_gate(run_id, config.phase, gate)
        if not gate.passed:
            reasons = "; ".join(f"{r.code} {r.item}: {r.detail}" for r in gate.reasons)
            waiting = " — escalated: waiting for a person (waive or change the config, then resume)"
            raise dg.Failure(
                redacted(
                    f"gate of phase {config.phase} failed after {gate.attempts} attempt(s): "
                    f"{score_verdict(gate.score, gate.threshold)} ({reasons[:2000]})"
                    + (waiting if gate.escalate else "")
                ),
                allow_retries=False,
            )

    return _gate
