"""Integer parallelism N: a phase's agents run at most N at once, and N of them do run together.

The limit is enforced inside the agent steps (one of N slot locks per running agent, see
ideamine_core/phase/slots.py): under the threadpool executor all four mapped agent steps start at once
and two wait for a slot. So the overlap is measured on what the agents do, the leased task windows of
the `tasks` table (lease taken inside the slot, released when the agent is done), and cross-checked
with the Dagster step ends, which come in two waves.
"""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_core.storage.tables import TaskRow
from ideamine_dagster.launcher import execute_run

pytestmark = pytest.mark.exclusive  # overlap is measured in wall time
LIMIT = 2
LATENCY = 0.3


def _max_overlap(windows: list[tuple[float, float]]) -> int:
    """The largest number of windows open at one instant (an end before a start at the same time)."""
    marks = sorted([(s, 1) for s, _ in windows] + [(e, -1) for _, e in windows], key=lambda m: (m[0], m[1]))
    open_, peak = 0, 0
    for _, delta in marks:
        open_ += delta
        peak = max(peak, open_)
    return peak


def _step_ends(instance: dg.DagsterInstance, dagster_run_id: str, prefix: str) -> list[float]:
    return sorted(
        r.timestamp
        for r in instance.all_logs(dagster_run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        if r.dagster_event and (r.dagster_event.step_key or "").startswith(prefix)
    )


def test_integer_parallelism_runs_at_most_n_agents_at_once(settings: Settings, instance) -> None:
    path = settings.config_dir / "ideation.yaml"
    data = yaml.safe_load(path.read_text())
    assert len(data["agents"]) == 4
    data["parallelism"] = LIMIT
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    run_id, upstream = run_phases(settings, instance, DEMO, phases=["intake"])
    assert upstream.success
    record = RunStore(settings.runs_dir).load_run(run_id).model_copy(update={"phases": ["ideation"]})

    dagster_run_id, success = execute_run(
        settings, instance, record, "threadpool", simulated_latency_seconds=LATENCY
    )

    assert success
    engine = sa.create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(TaskRow.agent, TaskRow.started_at, TaskRow.finished_at).where(
                    TaskRow.run_id == run_id, TaskRow.phase == "ideation"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(r.agent for r in rows) == ["Competitive", "Persona", "Strategy", "TechStack"]
    windows = [(r.started_at, r.finished_at) for r in rows]
    assert all(s is not None and e is not None and e - s >= LATENCY for s, e in windows)
    print(f"ideation task windows: {sorted((round(s, 2), round(e, 2)) for s, e in windows)}")
    assert _max_overlap(windows) == LIMIT  # never more than N, and N really at once
    # the four agent steps ran (fanned out), finishing in two waves at least one agent call apart
    ends = _step_ends(instance, dagster_run_id, "ideation.ideation__agent[")
    assert len(ends) == 4
    assert ends[LIMIT] - ends[LIMIT - 1] >= LATENCY / 2
