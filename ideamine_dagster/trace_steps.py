"""Trace context across Dagster steps: run → phase → task → tool spans, whatever the executor.

The launcher opens the run span and hands its W3C traceparent to the run as a tag; a phase's plan
step opens the phase span under it and publishes that span's traceparent as a run tag of its own;
the phase's agent and gate steps (threads or processes) make it the parent of the task and tool
spans the core opens. With tracing off, nothing is read, written or recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ideamine_core.tracing import current_traceparent, span_for_phase, tracing_enabled

RUN_TAG = "ideamine/traceparent"
"""Run tag holding the run span's traceparent."""


def phase_tag(phase: str) -> str:
    """Run tag holding the traceparent of `phase`'s span."""
    return f"{RUN_TAG}.{phase}"


def run_trace_tags() -> dict[str, str]:
    """Tags that parent a run's step spans under the current (run) span; empty when tracing is off."""
    carrier = current_traceparent()
    return {RUN_TAG: carrier["traceparent"]} if "traceparent" in carrier else {}


def _carrier(value: str | None) -> dict[str, str] | None:
    return {"traceparent": value} if value else None


@contextmanager
def phase_span(context: dg.OpExecutionContext, phase: str) -> Iterator[None]:
    """The plan step: open `phase`'s span under the run span and publish it for the phase's other steps."""
    if not tracing_enabled():
        yield
        return
    parent = _carrier(context.run.tags.get(RUN_TAG))
    with span_for_phase(context.partition_key, phase, parent=parent):
        carrier = current_traceparent()
        if "traceparent" in carrier:
            context.instance.add_run_tags(context.run_id, {phase_tag(phase): carrier["traceparent"]})
        yield


@contextmanager
def in_phase(context: dg.OpExecutionContext, phase: str) -> Iterator[None]:
    """An agent or gate step: spans opened inside are children of `phase`'s span (else the run span)."""
    if not tracing_enabled():
        yield
        return
    tags = _tags(context)
    parent = _carrier(tags.get(phase_tag(phase)) or tags.get(RUN_TAG))
    if parent is None:
        yield
        return
    token = otel_context.attach(TraceContextTextMapPropagator().extract(parent))
    try:
        yield
    finally:
        otel_context.detach(token)


def _tags(context: dg.OpExecutionContext) -> dict[str, str]:
    """The run's tags as stored now (the plan step of the phase added its own after this run started)."""
    run = context.instance.get_run_by_id(context.run_id)
    return dict(run.tags) if run is not None else dict(context.run.tags)
