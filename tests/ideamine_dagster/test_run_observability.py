"""Issue 5 through Dagster, on one real partial run (intake → ideation → critique, threadpool executor):

- tracing: the launcher's run span parents each phase span, which parents the task spans of that
  phase's steps (other threads), which parent their tool spans; every span carries its ids; with
  tracing not configured, nothing is recorded and the run carries no trace tags;
- lineage: the phase inputs in the provenance records are Dagster's asset dependencies (their
  transitive closure, reduced back to direct edges), and hashes agree with the materializations;
- metrics: every phase materialization carries numeric `metric_*` values the UI can plot;
- scenario 5: Q/A/V announces `kmap.delta.created` with frame ids that are stored, with assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import DEMO, REPO

from ideamine_core import tracing
from ideamine_core.provenance import ProvenanceStore
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.launcher import create_run, execute_run
from ideamine_dagster.trace_steps import RUN_TAG, phase_tag

PHASES = ["intake", "ideation", "critique"]


@dataclass
class TracedRun:
    settings: Settings
    run_id: str
    dagster_run_id: str
    instance: dg.DagsterInstance
    spans: list[ReadableSpan]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedRun]:
    """One partial run under the default (threadpool) executor, traced into memory."""
    settings = Settings(home=tmp_path_factory.mktemp("traced") / "home", config_dir=REPO / "phase_configs")
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(exporter)
    try:
        with dg.instance_for_test() as instance:
            record = create_run(settings, DEMO, PHASES)
            dagster_run_id, success = execute_run(settings, instance, record, "threadpool")
            assert success
            spans = list(exporter.get_finished_spans())
            yield TracedRun(settings, record.run_id, dagster_run_id, instance, spans)
    finally:
        tracing.shutdown_tracing()


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == f"ideamine.{name}"]


def test_spans_nest_run_phase_task_tool_across_steps_with_their_ids(traced: TracedRun) -> None:
    spans, by_id = traced.spans, {s.context.span_id: s for s in traced.spans}
    [run] = _named(spans, "run")
    assert run.parent is None and len({s.context.trace_id for s in spans}) == 1
    assert dict(run.attributes) == {
        "ideamine.run_id": traced.run_id,
        "ideamine.dagster_run_id": traced.dagster_run_id,
        "ideamine.status": "success",
    }
    run_id = run.context.span_id
    phases = {s.attributes["ideamine.phase"]: s for s in _named(spans, "phase") if s.parent.span_id == run_id}
    assert sorted(phases) == sorted(PHASES)  # one span per phase, opened by its plan step
    tasks = _named(spans, "task")
    events = RunStore(traced.settings.runs_dir).event_log(traced.run_id).read()
    assert len(tasks) == sum(e.type == "phase.agent.complete" for e in events) >= 10
    for task in tasks:
        phase = task.attributes["ideamine.phase"]
        ancestor = by_id[task.parent.span_id]
        while ancestor.parent is not None and ancestor.parent.span_id != run_id:
            ancestor = by_id[ancestor.parent.span_id]  # a gate re-run sits under the gate's span
        assert ancestor is phases[phase], (phase, task.attributes["ideamine.agent"])
        assert task.attributes["ideamine.run_id"] == traced.run_id and "ideamine.iteration" in task.attributes
    tools = _named(spans, "tool")
    assert tools and all(by_id[t.parent.span_id].name == "ideamine.task" for t in tools)
    for tool in tools:
        task = by_id[tool.parent.span_id]
        assert tool.attributes["ideamine.agent"] == task.attributes["ideamine.agent"]
    tags = traced.instance.get_run_by_id(traced.dagster_run_id).tags
    assert RUN_TAG in tags and all(phase_tag(p) in tags for p in PHASES)


def test_nothing_is_recorded_when_tracing_is_not_configured(
    settings: Settings, instance, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(tracing.EXPORTER_ENV, raising=False)
    tracing.shutdown_tracing()  # the next span reads the (empty) setting
    dagster_run_id, success = execute_run(settings, instance, create_run(settings, DEMO, ["intake"]))
    assert success and not tracing.tracing_enabled()
    tags = instance.get_run_by_id(dagster_run_id).tags
    assert "ideamine/run_id" in tags and not [t for t in tags if t.startswith(RUN_TAG)]
    assert "ideamine." not in capfd.readouterr().err  # no exporter printed a span


def materializations(traced: TracedRun) -> dict[str, dg.AssetMaterialization]:
    records = traced.instance.get_records_for_run(
        traced.dagster_run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    found = [r.event_log_entry.asset_materialization for r in records]
    return {m.asset_key.path[-1]: m for m in found if m is not None}


def test_asset_lineage_matches_the_provenance_records(traced: TracedRun) -> None:
    graph = build_definitions(traced.settings).resolve_asset_graph()
    provenance = ProvenanceStore(Runtime.of(traced.settings).db)
    records = {r.name: r for r in provenance.artifacts(traced.run_id)}
    used: dict[str, set[str]] = {}
    for phase in PHASES:
        agents = [r for r in records.values() if r.kind == "agent" and r.phase == phase]
        used[phase] = {
            i.rsplit("/phase:", 1)[1]
            for r in agents
            for i in r.inputs
            if i.startswith(f"{traced.run_id}/phase:")
        }
        assert set(records[f"phase:{phase}"].inputs) == {r.artifact_id for r in agents}
    for phase in PHASES:
        key = dg.AssetKey(phase)
        deps = {k.path[-1] for k in graph.get(key).parent_keys}
        ancestors = {k.path[-1] for k in graph.get_ancestor_asset_keys(key)}
        direct = {p for p in used[phase] if not any(p in used[q] for q in used[phase])}
        assert used[phase] == ancestors and direct == deps, phase
    hashes = {p: m.metadata["content_hash"].value for p, m in materializations(traced).items()}
    assert hashes == {p: records[f"phase:{p}"].content_hash for p in PHASES}


PLOTTED = [
    "duration_seconds",
    "gate_attempts",
    "gate_score",
    "gate_threshold",
    "tasks_succeeded",
    "tokens_in",
]


def test_each_phase_materialization_carries_numbers_the_ui_plots(traced: TracedRun) -> None:
    found = materializations(traced)
    assert sorted(found) == sorted(PHASES)
    for phase, materialization in found.items():
        metadata = materialization.metadata
        for name in PLOTTED:
            value = metadata[f"metric_{name}"]
            assert isinstance(value, dg.FloatMetadataValue) and math.isfinite(value.value), (phase, name)
        assert metadata["metric_tasks_succeeded"].value >= 2 and metadata["metric_gate_attempts"].value == 1
        assert metadata["gate_score"].value >= metadata["threshold"].value


def test_scenario_5_qav_announces_frames_that_are_stored_with_assumptions(traced: TracedRun) -> None:
    events = RunStore(traced.settings.runs_dir).event_log(traced.run_id).read()
    [delta] = [e for e in events if e.type == "kmap.delta.created" and e.phase == "ideation"]
    assert delta.data["accepted"] > 0 and delta.data["frame_ids"]
    knowledge = Runtime.of(traced.settings).knowledge
    frames = {f.frame_id: f for f in knowledge.frames(traced.run_id, "ideation")}
    assert set(delta.data["frame_ids"]) <= set(frames)
    assert sum(f.verdict == "ACCEPT" for f in frames.values()) == delta.data["accepted"]
    assumptions = knowledge.assumptions(traced.run_id, "ideation")
    assert len(assumptions) == delta.data["unknown"] > 0
    assert all(
        a.source.split(":")[0] in {"Strategy", "Competitive", "TechStack", "Persona"} for a in assumptions
    )
