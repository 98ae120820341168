"""The story loop reports its progress (stories done) through its heartbeat, so the supervisor's slope
monitor judges real data — through the real PhaseService on a real Runtime, as the Dagster ops call it.

The upstream artifacts of story_loop come from the offline rules (gate_chain). A probing offline
provider reads the loop task's heartbeat back from the runtime's heartbeat store at each story-loop
call (the samples live only while the loop holds its lease).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from gate_chain import stored_upstream
from support import DEMO

from ideamine_core.agents.outputs.prd import StoryMap
from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.errors import TaskTakenOverError
from ideamine_core.phase.service import PhaseService
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.resilience.heartbeats import BeatState
from ideamine_core.resilience.slope import progress_slope
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_core.storage.tables import TaskRow

PHASE = "story_loop"


class Probe(OfflineProvider):
    """The offline rules; at each story-loop call it records the loop task's heartbeat as the runtime's
    store holds it, and runs `on_call` (the test's supervisor ticks, a slow or stuck implementer)."""

    def __init__(self, runtime: Runtime, run_id: str, on_call: Any = None) -> None:
        super().__init__()
        self.runtime, self.loop_id, self.on_call = runtime, f"{run_id}/{PHASE}/loop", on_call
        self.seen: list[tuple[str, int, BeatState | None]] = []

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        if ctx.phase == PHASE:
            beats = {b.task_id: b for b in self.runtime.heartbeats.live()}
            self.seen.append((spec.name, ctx.iteration, beats.get(self.loop_id)))
        output = super().generate(spec, ctx)
        return self.on_call(spec, ctx, output) if self.on_call and ctx.phase == PHASE else output


def _setup(settings: Settings, **config: Any) -> tuple[PhaseService, Probe, str, list[str]]:
    """A run whose story_loop upstream artifacts are stored, and a service whose provider probes."""
    graph, run_id, chain = stored_upstream(settings, PHASE, DEMO, **config)
    stories = [s.id for s in StoryMap.model_validate(chain["prd"].output_of("StoryCutter")).stories]
    runtime = Runtime.of(settings)
    probe = Probe(runtime, run_id)
    return PhaseService(graph, runtime, probe, get_agent), probe, run_id, stories


def _task_rows(runtime: Runtime, run_id: str) -> dict[str, sa.Row]:
    query = sa.select(TaskRow.task_id, TaskRow.status, TaskRow.progress).where(TaskRow.run_id == run_id)
    with runtime.db.read() as conn:
        return {row.task_id: row for row in conn.execute(query)}


def test_the_story_loop_reports_stories_done_through_its_heartbeat(settings: Settings) -> None:
    service, probe, run_id, stories = _setup(settings)

    results = service.run_iterative(service.plan(run_id, PHASE))

    assert results[-1].output["done"] is True and len(results) == 2 * len(stories)
    # at the start of iteration i the loop's heartbeat holds one sample per iteration done, and each
    # sample is the stories done by then: 1, 2, ..., i — rising, as the slope monitor sees it
    starts = [(i, beat) for agent, i, beat in probe.seen if agent == "StoryImplementer"]
    assert [i for i, _ in starts] == list(range(len(stories)))
    for i, beat in starts:
        assert beat is not None and beat.owner and beat.phase == PHASE
        assert [p for _, p in beat.samples] == [float(n) for n in range(1, i + 1)]
        assert beat.progress == (float(i) if i else None)
    last = starts[-1][1]
    assert last is not None and len(last.samples) >= 3 and progress_slope(last.samples) > 0
    times = [t for t, _ in last.samples]
    assert times == sorted(times)
    # the lease is released with the loop: the task keeps its last progress (every story) and is done
    rows = _task_rows(service.runtime, run_id)
    loop = rows[probe.loop_id]
    assert loop.status == "done" and loop.progress == float(len(stories))
    # every agent task reported progress 1.0 when its call returned
    agents = [row for task, row in rows.items() if task != probe.loop_id]
    assert len(agents) == len(results) and all(r.progress == 1.0 and r.status == "done" for r in agents)
    events = RunStore(settings.runs_dir).event_log(run_id).read()
    reported = [e.data["progress"] for e in events if e.type == "phase.progress" and "iteration" in e.data]
    assert reported == [float(n) for n in range(1, len(stories) + 1)]


@pytest.mark.exclusive  # the slope monitor's window is wall time
def test_a_loop_whose_stories_stop_advancing_is_judged_flat_stopped_and_resumed(settings: Settings) -> None:
    # beats every 0.2 s: the slope window is 10 intervals (2 s); no stall before 50 missed beats
    heartbeat = {"interval_seconds": 0.2, "stall_threshold": 50}
    service, probe, run_id, stories = _setup(settings, heartbeat=heartbeat, max_iterations=60)
    supervisor = service.runtime.supervisor(service.graph.phases.values())
    decisions = []

    def stuck(spec: AgentSpec, ctx: AgentContext, output: dict[str, Any]) -> dict[str, Any]:
        """The implementer implements nothing (stories done stay 0), slowly; the supervisor ticks."""
        if spec.name != "StoryImplementer":
            return output
        decisions.extend(supervisor.tick().decisions)
        time.sleep(0.1)
        return output | {"implemented_story_ids": []}

    probe.on_call = stuck
    with pytest.raises(TaskTakenOverError):
        service.run_iterative(service.plan(run_id, PHASE))

    (decision,) = decisions
    assert decision.task_id == probe.loop_id and decision.mode == "no_progress"
    assert decision.strategy == "switch_strategy" and decision.evidence["slope_per_second"] == 0.0
    stuck_at = max(i for agent, i, _ in probe.seen if agent == "StoryImplementer")
    assert 3 <= stuck_at < 60  # it stopped early, at the first step after the verdict
    ledger = [e for e in service.runtime.ledger.entries(run_id) if e.type == "decision"]
    assert [e.data["mode"] for e in ledger if e.task_id == probe.loop_id] == ["no_progress"]
    events = RunStore(settings.runs_dir).event_log(run_id).read()
    stalled = [e.data for e in events if e.type == "phase.stalled"]
    assert [(s["task_id"], s["kind"]) for s in stalled] == [(probe.loop_id, "no_progress")]
    assert _task_rows(service.runtime, run_id)[probe.loop_id].status == "stalled"

    # retried (as Dagster does for TaskTakenOverError): the loop resumes after its last checkpoint
    probe.on_call, probe.seen[:] = None, []
    results = service.run_iterative(service.contexts(run_id, PHASE))
    # no model call before the interrupted iteration; its implementer (and its reviewer, if it ran
    # before the loop noticed) left durable results, so the first call is its reviewer's or the next's
    first = min(i for _, i, _ in probe.seen)
    assert first in (stuck_at, stuck_at + 1)
    assert [r.iteration for r in results] == sorted(r.iteration for r in results)
    assert results[-1].output["done"] is True
    assert _task_rows(service.runtime, run_id)[probe.loop_id].status == "done"
