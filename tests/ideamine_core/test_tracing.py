"""Tracing contract: spans for run → phase → task → tool nest with their ids as attributes; errors mark
the span without its message; only allow-listed, id-like values are exported; nothing is recorded or
even loaded unless IDEAMINE_OTEL_EXPORTER says so; a bad exporter setting is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from ideamine_core import tracing
from ideamine_core.errors import ServiceUnavailableError


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into an in-memory exporter; off again after the test."""
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(exporter) is True
    yield exporter
    tracing.shutdown_tracing()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    tracing.shutdown_tracing()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_run_phase_task_tool_nest_with_their_ids(memory: InMemorySpanExporter) -> None:
    with tracing.span_for_run("run-1", dagster_run_id="d-42"):
        with tracing.span_for_phase("run-1", "qa", attempt=2):
            task_id = "run-1:qa:TestRunner:0"
            with tracing.span_for_task("run-1", "qa", "TestRunner", task_id=task_id, iteration=0):
                with tracing.span_for_tool("run-1", "qa", "pytest", agent="TestRunner") as tool:
                    tracing.set_figures(tool, exit_code=0, tests_run=12, tests_failed=0)
    spans = _by_name(memory)
    assert set(spans) == {"ideamine.run", "ideamine.phase", "ideamine.task", "ideamine.tool"}
    run, phase, task, tool = (spans[f"ideamine.{n}"] for n in ("run", "phase", "task", "tool"))
    assert run.parent is None
    assert phase.parent.span_id == run.context.span_id
    assert task.parent.span_id == phase.context.span_id
    assert tool.parent.span_id == task.context.span_id
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert dict(run.attributes) == {"ideamine.run_id": "run-1", "ideamine.dagster_run_id": "d-42"}
    assert dict(phase.attributes) == {
        "ideamine.run_id": "run-1",
        "ideamine.phase": "qa",
        "ideamine.attempt": 2,
    }
    assert dict(task.attributes) == {
        "ideamine.run_id": "run-1",
        "ideamine.phase": "qa",
        "ideamine.agent": "TestRunner",
        "ideamine.task_id": "run-1:qa:TestRunner:0",
        "ideamine.iteration": 0,
    }
    assert dict(tool.attributes) == {
        "ideamine.run_id": "run-1",
        "ideamine.phase": "qa",
        "ideamine.tool": "pytest",
        "ideamine.agent": "TestRunner",
        "ideamine.exit_code": 0,
        "ideamine.tests_run": 12,
        "ideamine.tests_failed": 0,
    }
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.values())


def test_traceparent_parents_a_span_in_another_thread(memory: InMemorySpanExporter) -> None:
    carrier: dict[str, str] = {}
    with tracing.span_for_phase("run-1", "security"):
        carrier.update(tracing.current_traceparent())

    def step() -> None:  # a Dagster step runs in another thread or process: no shared context
        with tracing.span_for_task("run-1", "security", "SAST", parent=carrier):
            pass

    worker = threading.Thread(target=step)
    worker.start()
    worker.join()
    spans = _by_name(memory)
    assert "traceparent" in carrier
    assert spans["ideamine.task"].parent.span_id == spans["ideamine.phase"].context.span_id
    assert spans["ideamine.task"].context.trace_id == spans["ideamine.phase"].context.trace_id


def test_exception_marks_the_span_failed_without_its_message(memory: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span_for_run("run-1"):
        with tracing.span_for_task("run-1", "prd", "PRDWriter"):
            raise ValueError("provider said: bad key sk-canary-0123456789")
    with pytest.raises(ServiceUnavailableError), tracing.span_for_tool("run-1", "security", "bandit"):
        raise ServiceUnavailableError("redis at redis://:hunter2@127.0.0.1 is down")
    spans = _by_name(memory)
    for name, error in (("ideamine.task", "ValueError"), ("ideamine.run", "ValueError")):
        assert spans[name].status.status_code is StatusCode.ERROR
        assert spans[name].status.description == error
        assert spans[name].attributes["ideamine.error_type"] == error
    assert spans["ideamine.tool"].attributes["ideamine.retry_class"] == "transient"
    exported = "".join(s.to_json() for s in spans.values())
    assert "sk-canary" not in exported and "hunter2" not in exported
    assert all(not s.events for s in spans.values())  # no exception event with message and stack


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ("openai:gpt-4.1-mini", "openai:gpt-4.1-mini"),  # a provider:model id passes
        ("run-1:qa:TestRunner:0", "run-1:qa:TestRunner:0"),  # a task id passes
        ("Build a todo app", tracing.REDACTED),  # free text (an idea, a prompt) is never exported
        ("postgresql://app:s3cret@db/ideamine", tracing.REDACTED),  # URLs may carry passwords
        ("sk-" + "a" * 300, tracing.REDACTED),  # long tokens look like keys
        ("<script>", tracing.REDACTED),  # markup
        ("", tracing.REDACTED),  # empty names are not ids
    ],
)
def test_only_id_like_strings_are_exported(memory: InMemorySpanExporter, value: str, exported: str) -> None:
    with tracing.span_for_task("run-1", "prd", "PRDWriter", model=value):
        pass
    (span,) = memory.get_finished_spans()
    assert span.attributes["ideamine.model"] == exported


def test_unknown_attribute_is_a_programming_error_even_when_off() -> None:
    tracing.configure_tracing(env={})
    with tracing.span_for_run("run-1") as span, pytest.raises(ValueError, match="api_key"):
        tracing.set_figures(span, api_key="x")
    with pytest.raises(ValueError, match="prompt"):
        tracing.safe_attributes({"ideamine.prompt": "hello"})


def test_off_by_default_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.EXPORTER_ENV, raising=False)
    tracing.shutdown_tracing()  # the next span reads the environment
    with tracing.span_for_run("run-1") as run, tracing.span_for_task("run-1", "prd", "PRDWriter") as task:
        assert not run.is_recording() and not task.is_recording()
        assert tracing.current_traceparent() == {}
    assert tracing.tracing_enabled() is False


_PROBE = """
import json, sys
from ideamine_core import tracing
with tracing.span_for_run("run-probe"):
    with tracing.span_for_phase("run-probe", "intake"):
        pass
tracing.shutdown_tracing()
print(json.dumps({"sdk_loaded": "opentelemetry.sdk.trace" in sys.modules}))
"""


def _probe(exporter: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEAMINE_", "OTEL_"))}
    if exporter is not None:
        env[tracing.EXPORTER_ENV] = exporter
    return subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_unconfigured_process_exports_nothing_and_never_loads_the_sdk() -> None:
    off = _probe(None)
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == {"sdk_loaded": False}
    assert "ideamine" not in off.stderr
    on = _probe("console")  # the same probe with the console exporter prints both spans
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout) == {"sdk_loaded": True}
    assert on.stderr.count('"ideamine.run_id": "run-probe"') == 2


@pytest.mark.parametrize(
    "setting",
    [
        "jaeger",  # not an exporter IdeaMine knows
        "consol",  # a typo
    ],
)
def test_unknown_exporter_is_one_clear_error_and_keeps_the_working_set_up(
    memory: InMemorySpanExporter, setting: str
) -> None:
    with pytest.raises(tracing.TracingConfigError) as err:
        tracing.configure_tracing(env={tracing.EXPORTER_ENV: setting})
    assert setting in err.value.explain() and "none, console, otlp" in err.value.explain()
    with tracing.span_for_run("run-1"):
        pass
    assert [s.name for s in memory.get_finished_spans()] == ["ideamine.run"]


def test_otlp_without_its_package_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(tracing.TracingConfigError) as err:
        tracing.configure_tracing("otlp")
    assert "pip install opentelemetry-exporter-otlp-proto-http" in err.value.explain()


def test_otlp_sends_spans_to_the_collector(httpserver, monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/v1/traces", method="POST").respond_with_data(
        b"", content_type="application/x-protobuf"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", httpserver.url_for("/v1/traces"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert tracing.configure_tracing("otlp") is True
    with tracing.span_for_run("run-otlp"), tracing.span_for_phase("run-otlp", "qa"):
        pass
    tracing.shutdown_tracing()  # flushes the batch
    (request, _response), *rest = httpserver.log
    assert not rest
    assert request.headers["Content-Type"] == "application/x-protobuf"
    body = request.get_data()
    assert b"ideamine.run_id" in body and b"run-otlp" in body and b"ideamine.phase" in body
