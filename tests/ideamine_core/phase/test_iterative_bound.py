"""The iterative mode's max-iterations bound, through the real PhaseService (no Dagster).

The upstream artifacts of story_loop come from the offline rules (gate_chain); the loop itself, its
gate with auto-fix and its records go through `PhaseService` on a real Runtime, as the Dagster ops do.
"""

from __future__ import annotations

from gate_chain import stored_upstream
from support import DEMO

from ideamine_core.agents.outputs.prd import StoryMap
from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.artifact import score_verdict
from ideamine_core.dossier.sources import Sources, load_run_folder
from ideamine_core.phase.service import PhaseService
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore

PHASE = "story_loop"
BOUND = 2


def _service_with_upstream(settings: Settings) -> tuple[PhaseService, str, list[str]]:
    """A phase service on `settings` and a run whose story_loop upstream artifacts are stored."""
    graph, run_id, chain = stored_upstream(settings, PHASE, DEMO, max_iterations=BOUND)
    stories = [s.id for s in StoryMap.model_validate(chain["prd"].output_of("StoryCutter")).stories]
    service = PhaseService(graph, Runtime.of(settings), OfflineProvider(), get_agent)
    return service, run_id, stories


def test_story_loop_stops_at_max_iterations_and_its_gate_names_the_stories_left(settings: Settings) -> None:
    service, run_id, stories = _service_with_upstream(settings)
    assert service.config(PHASE).max_iterations == BOUND < len(stories)

    results = service.run_iterative(service.plan(run_id, PHASE))

    # the loop stopped at the bound, not at a done signal: BOUND iterations of both agents
    assert [(r.iteration, r.agent) for r in results] == [
        (i, a) for i in range(BOUND) for a in ("StoryImplementer", "StoryReviewer")
    ]
    last_review = results[-1].output
    assert last_review["done"] is False
    assert last_review["remaining_story_ids"] == stories[BOUND:]
    events = RunStore(settings.runs_dir).event_log(run_id).read()
    progress = [e.data for e in events if e.type == "phase.progress" and "iteration" in e.data]
    assert [(p["iteration"], p["max_iterations"], p["done_signal"]) for p in progress] == [
        (i + 1, BOUND, False) for i in range(BOUND)
    ]

    artifact_ = service.finish(run_id, PHASE, results)
    gate = artifact_.gate
    assert gate is not None
    config = service.config(PHASE)
    # auto-fix re-runs the pair (one more story each attempt) but cannot finish: a person must look
    assert not gate.passed and gate.escalate and gate.attempts == config.gate.max_attempts
    implemented = set(artifact_.output_of("StoryImplementer")["implemented_story_ids"])
    left = [s for s in stories if s not in implemented]
    assert left and len(implemented) == BOUND + config.gate.max_attempts - 1
    # every reason is a coverage gap naming a story that is really left, owned by the loop's agents
    assert {r.code for r in gate.reasons} == {"coverage"}
    assert sorted({r.item.split()[0] for r in gate.reasons}) == sorted(left)
    assert {a for r in gate.reasons for a in r.agents} == {"StoryImplementer", "StoryReviewer"}
    coverage = next(g for g in gate.guards if g.guard == "coverage")
    assert not coverage.passed and coverage.score < coverage.threshold

    record = RunStore(settings.runs_dir).load_phase(run_id, PHASE)
    assert record is not None and record.status == "escalated"
    assert record.attempts == gate.attempts and record.gate_score == gate.score
    assert all(f"{s} implemented" in record.detail for s in left)
    assert not any(f"{s} implemented" in record.detail for s in implemented)
    # the first thing the person reads is the bound the loop ran into
    assert record.detail.startswith(f"the loop stopped at max_iterations ({BOUND}) without a done signal")

    # what a person reads (Dagster failure text, dossier): the mean score reaches the threshold, a
    # guard failed; the text must not claim the score is below the threshold
    assert gate.score >= gate.threshold
    verdict = score_verdict(gate.score, gate.threshold)
    assert verdict == f"score {gate.score:.2f} ≥ threshold {gate.threshold:.2f}, but a guard failed"
    absence = Sources(load_run_folder(RunStore(settings.runs_dir), run_id)).phase_absence(PHASE)
    assert absence is not None and "waits for a person" in absence and verdict in absence
    assert f"{left[-1]} implemented" in absence
