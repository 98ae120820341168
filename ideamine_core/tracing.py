"""OpenTelemetry spans for runs, phases, agent tasks and tool calls; off unless IDEAMINE_OTEL_EXPORTER is set.

IdeaMine keeps its own tracer provider (it never installs or uses the global one), configured from
``IDEAMINE_OTEL_EXPORTER`` = ``none`` (default: nothing is recorded), ``console`` (spans as JSON on
stderr) or ``otlp`` (OTLP over HTTP, endpoint from the standard ``OTEL_EXPORTER_OTLP_*`` variables; needs
the ``opentelemetry-exporter-otlp-proto-http`` package). Spans carry only allow-listed attributes whose
values are ids, names, numbers or booleans: a string that does not look like an id or a name (spaces,
URLs, anything long) is replaced by ``[redacted]``, so no prompt, idea text or secret can leak into a trace.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ideamine_core.errors import IdeaMineError

EXPORTER_ENV = "IDEAMINE_OTEL_EXPORTER"
EXPORTERS: tuple[str, ...] = ("none", "console", "otlp")
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"
REDACTED = "[redacted]"

_NAME_ATTRS = {
    "run_id", "phase", "agent", "task_id", "tool", "model", "provider", "dagster_run_id", "status",
    "error_type", "retry_class",
}  # fmt: skip
_NUMBER_ATTRS = {
    "attempt", "iteration", "tokens_in", "tokens_out", "cost_usd", "latency_ms", "gate_score",
    "threshold", "passed", "cache_hit", "exit_code", "findings", "tests_run", "tests_failed",
}  # fmt: skip
ATTRIBUTES: frozenset[str] = frozenset(f"ideamine.{n}" for n in _NAME_ATTRS | _NUMBER_ATTRS)
"""Every attribute key a span may carry."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/+\-]{0,199}$")
_PROPAGATOR = TraceContextTextMapPropagator()


class TracingConfigError(IdeaMineError):
    """IDEAMINE_OTEL_EXPORTER names an unknown exporter, or one whose package is not installed."""


class _State:
    """The process's tracer: None until configured, and None again when tracing is off."""

    lock = threading.Lock()
    configured = False
    provider: Any = None
    tracer: trace.Tracer | None = None


def configure_tracing(exporter: Any = None, env: Mapping[str, str] | None = None) -> bool:
    """Set up tracing from `exporter` (a name or a SpanExporter) or IDEAMINE_OTEL_EXPORTER; True if on."""
    with _State.lock:
        return _configure_locked(exporter, env)


def _configure_locked(exporter: Any, env: Mapping[str, str] | None) -> bool:
    name = exporter if exporter is not None else (env if env is not None else os.environ).get(EXPORTER_ENV)
    if isinstance(name, str) or name is None:
        name = (name or "none").strip().lower() or "none"
    processor = None if name == "none" else _processor(name)
    _shutdown_locked()
    if processor is not None:
        _State.provider = _provider(processor)
        _State.tracer = _State.provider.get_tracer("ideamine")
    _State.configured = True
    return _State.tracer is not None


def _processor(exporter: Any) -> Any:
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )

    if isinstance(exporter, SpanExporter):
        return SimpleSpanProcessor(exporter)
    if exporter == "console":
        return SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise TracingConfigError(
                f"{EXPORTER_ENV}=otlp needs the OTLP exporter, which is not installed",
                fix=f"pip install {OTLP_PACKAGE}, or set {EXPORTER_ENV}=console or none",
            ) from None
        return BatchSpanProcessor(OTLPSpanExporter())
    raise TracingConfigError(
        f"{EXPORTER_ENV}={exporter!r} is not a known exporter",
        fix=f"set {EXPORTER_ENV} to one of {', '.join(EXPORTERS)}",
    )


def _provider(processor: Any) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": "ideamine"}))
    provider.add_span_processor(processor)
    return provider


def shutdown_tracing() -> None:
    """Flush and close the exporter; the next span reads the configuration again."""
    with _State.lock:
        _shutdown_locked()
        _State.configured = False


def _shutdown_locked() -> None:
    if _State.provider is not None:
        _State.provider.shutdown()
    _State.provider, _State.tracer = None, None


def tracing_enabled() -> bool:
    """True when spans are recorded and exported (configuring from the environment on first use)."""
    return _tracer() is not None


def _tracer() -> trace.Tracer | None:
    if not _State.configured:
        with _State.lock:
            if not _State.configured:
                _configure_locked(None, None)
    return _State.tracer


def safe_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Allow-listed `ideamine.*` attributes with None dropped and unsafe strings redacted."""
    _check_keys(values)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            out[key] = value
        else:
            text = str(value)
            out[key] = text if _SAFE_NAME.match(text) and "://" not in text else REDACTED
    return out


def _check_keys(values: Mapping[str, Any]) -> None:
    unknown = set(values) - ATTRIBUTES
    if unknown:
        allowed = ", ".join(sorted(ATTRIBUTES))
        raise ValueError(f"span attribute(s) {sorted(unknown)} not allowed; allowed: {allowed}")


def set_figures(span: Span, **figures: Any) -> None:
    """Record results on a span, e.g. `set_figures(span, tokens_in=120, cost_usd=0.002)`."""
    values = {f"ideamine.{k}": v for k, v in figures.items()}
    _check_keys(values)
    if span.is_recording():
        span.set_attributes(safe_attributes(values))


def current_traceparent() -> dict[str, str]:
    """The current span as a W3C `traceparent` carrier, to parent spans in another step or process."""
    carrier: dict[str, str] = {}
    if _State.tracer is not None:
        _PROPAGATOR.inject(carrier)
    return carrier


@contextmanager
def _span(name: str, attributes: Mapping[str, Any], parent: Mapping[str, str] | None) -> Iterator[Span]:
    tracer = _tracer()
    if tracer is None:
        _check_keys(attributes)
        yield trace.INVALID_SPAN
        return
    attrs = safe_attributes(attributes)
    context = _PROPAGATOR.extract(parent) if parent else None
    with tracer.start_as_current_span(
        name, context=context, attributes=attrs, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            # only the class name: an exception's message may quote a secret or a prompt
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.set_attribute("ideamine.error_type", type(exc).__name__)
            if isinstance(exc, IdeaMineError):
                span.set_attribute("ideamine.retry_class", exc.retry_class.value)
            raise


def span_for_run(
    run_id: str, *, dagster_run_id: str | None = None, parent: Mapping[str, str] | None = None
) -> AbstractContextManager[Span]:
    """A span around a whole run."""
    attrs = {"ideamine.run_id": run_id, "ideamine.dagster_run_id": dagster_run_id}
    return _span("ideamine.run", attrs, parent)


def span_for_phase(
    run_id: str, phase: str, *, attempt: int | None = None, parent: Mapping[str, str] | None = None
) -> AbstractContextManager[Span]:
    """A span around one phase (plan → agents → fan-in → gate), or one gate attempt of it."""
    attrs = {"ideamine.run_id": run_id, "ideamine.phase": phase, "ideamine.attempt": attempt}
    return _span("ideamine.phase", attrs, parent)


def span_for_task(
    run_id: str,
    phase: str,
    agent: str,
    *,
    task_id: str | None = None,
    iteration: int | None = None,
    model: str | None = None,
    parent: Mapping[str, str] | None = None,
) -> AbstractContextManager[Span]:
    """A span around one agent task (one model call with its retries)."""
    attrs = {
        "ideamine.run_id": run_id,
        "ideamine.phase": phase,
        "ideamine.agent": agent,
        "ideamine.task_id": task_id,
        "ideamine.iteration": iteration,
        "ideamine.model": model,
    }
    return _span("ideamine.task", attrs, parent)


def span_for_tool(
    run_id: str,
    phase: str,
    tool: str,
    *,
    agent: str | None = None,
    task_id: str | None = None,
    parent: Mapping[str, str] | None = None,
) -> AbstractContextManager[Span]:
    """A span around one tool call (test run, scanner, sandboxed command)."""
    attrs = {
        "ideamine.run_id": run_id,
        "ideamine.phase": phase,
        "ideamine.tool": tool,
        "ideamine.agent": agent,
        "ideamine.task_id": task_id,
    }
    return _span("ideamine.tool", attrs, parent)
