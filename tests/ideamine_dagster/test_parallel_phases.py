"""Under the parallel executors, parallel phases really overlap (scenario 10 and agent fan-out)."""

from __future__ import annotations

import dagster as dg
import pytest
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.launcher import execute_run

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # overlap is measured in wall time
TOLERANCE_SECONDS = 2.0


def _step_times(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            ends[event.step_key] = record.timestamp
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def _failures(instance: dg.DagsterInstance, run_id: str) -> str:
    failed = [r.dagster_event for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    return "; ".join(f"{e.step_key}: {e.event_specific_data.error.message.strip()}" for e in failed)


@pytest.mark.parametrize("executor", ["multiprocess", "threadpool"])
def test_scenario_10_security_and_story_loop_start_together_after_build(
    settings: Settings, instance, executor: str
) -> None:
    run_id, upstream = run_phases(
        settings, instance, DEMO, phases=["intake", "ideation", "critique", "prd", "architecture"]
    )
    assert upstream.success
    store = RunStore(settings.runs_dir)
    record = store.load_run(run_id).model_copy(update={"phases": ["build", "security", "story_loop"]})
    dagster_run_id, success = execute_run(settings, instance, record, executor, simulated_latency_seconds=0.3)
    assert success, _failures(instance, dagster_run_id)
    times = _step_times(instance, dagster_run_id)
    build_done = times["build.build__gate"][1]
    security, story = times["security.security__plan"][0], times["story_loop.story_loop__plan"][0]
    print(
        f"scenario10: security start - story_loop start = {security - story:+.2f}s; "
        f"after build gate: {security - build_done:.2f}s / {story - build_done:.2f}s"
    )
    assert security >= build_done and story >= build_done
    assert abs(security - story) <= TOLERANCE_SECONDS
    agents = [v for k, v in times.items() if k.startswith("security.security__agent[")]
    assert len(agents) == 5
    span = max(e for _, e in agents) - min(s for s, _ in agents)
    busy = sum(e - s for s, e in agents)
    print(f"security agents: busy {busy:.2f}s in a span of {span:.2f}s")
    assert span < busy / 2, "security agents did not run concurrently"
