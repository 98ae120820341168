"""Issue 4 through Dagster: gates judge evidence, auto-fix until they pass, escalate, and honour waivers.

Scripted offline generators (a resource overriding `provider()`) put a known fault into one agent's
output: a must / must-not pair in the PRD (scenario 4), a constraint the IdeaSpec leaves out until a
fix instruction names it (coverage fixed on attempt 2), a constraint it never covers (a waived
violation, then the same waiver expired). The blocking check, the downstream steps, the run's
events and the dossier show the outcome.
"""

from __future__ import annotations

import time
from typing import Any

import dagster as dg
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.dossier import compile_dossier
from ideamine_core.dossier.publish import gather_inputs
from ideamine_core.dossier.render import render_markdown
from ideamine_core.phase.waivers import WaiverStore
from ideamine_core.providers.base import Provider
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.resources import IdeaMineResource

CONFLICT = [
    {"id": "REQ-90", "text": "The system must store every task list on the device.", "priority": "must"},
    {"id": "REQ-91", "text": "The system must not store every task list on the device.", "priority": "must"},
]
GAP = "offline-capable"


class ContradictingPRD(OfflineProvider):
    """The PRDWriter always adds two requirements that contradict each other (a fix cannot help)."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        output = super().generate(spec, ctx)
        if spec.name == "PRDWriter":
            output["requirements"] = [*output["requirements"], *CONFLICT]
        return output


class ConstraintGap(OfflineProvider):
    """The Validator leaves the GAP constraint out of the IdeaSpec, unless a fix instruction names it."""

    fixable = True

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        output = super().generate(spec, ctx)
        asked = self.fixable and GAP in (ctx.instruction or "")
        if spec.name == "Validator" and not asked:
            output["constraints"] = [c for c in output["constraints"] if "offline" not in c.lower()]
        return output


class NeverCovered(ConstraintGap):
    """As ConstraintGap, but no instruction helps."""

    fixable = False


def scripted(settings: Settings, provider: type[OfflineProvider]) -> dict[str, IdeaMineResource]:
    class Scripted(IdeaMineResource):
        def provider(self) -> Provider:
            return provider()

    return {"ideamine": Scripted(home=str(settings.home), config_dir=str(settings.config_dir))}


def gate_of(result: dg.ExecuteInProcessResult, phase: str) -> dg.AssetCheckEvaluation:
    return next(c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == phase)


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def test_scenario_4_a_contradiction_fails_the_gate_blocks_downstream_and_escalates(
    settings, instance
) -> None:
    phases = ["intake", "ideation", "critique", "prd", "architecture"]
    run_id, result = run_phases(
        settings, instance, DEMO, phases=phases, resources=scripted(settings, ContradictingPRD)
    )
    assert not result.success
    gate = gate_of(result, "prd")
    assert not gate.passed and gate.metadata["attempts"].value == 5 and gate.metadata["escalate"].value
    reasons = gate.metadata["reasons"].value
    assert "contradictions: REQ-90 ↔ REQ-91" in reasons and "must / must-not" in reasons
    assert "contradictions 1 ≤ 0 ✗" in gate.metadata["attempt_history"].value
    assert gate.metadata["guard_contradictions"].value == 1.0
    assert materialized(result) == {"intake", "ideation", "critique"}
    started = {e.step_key.split(".")[0] for e in result.all_events if e.is_step_start}
    assert "architecture" not in started  # blocked by the failed check, not merely failed

    events = RunStore(settings.runs_dir).event_log(run_id).read()
    failed = [e for e in events if e.type == "phase.gate.failed"]
    assert [e.phase for e in failed] == ["prd"] and failed[0].data["threshold"] == 0.8
    items = {(r["code"], r["item"]) for r in failed[0].data["reasons"]}
    assert ("contradictions", "REQ-90 ↔ REQ-91") in items
    escalated = [e for e in events if e.type == "phase.gate.escalated"]
    assert len(escalated) == 1 and escalated[0].data["attempts"] == 5
    assert {"code": "contradictions", "item": "REQ-90 ↔ REQ-91"} in escalated[0].data["reasons"]
    autofixes = [e.data for e in events if e.type == "phase.gate.autofix"]
    assert len(autofixes) == 4 and all(a["strategies"] == ["contradictions"] for a in autofixes)
    assert all(a["agents"][0] == "PRDWriter" for a in autofixes)


def test_a_coverage_gap_is_fixed_on_attempt_2_and_the_metadata_shows_each_attempt(settings, instance) -> None:
    run_id, result = run_phases(
        settings, instance, DEMO, phases=["intake"], resources=scripted(settings, ConstraintGap)
    )
    assert result.success
    gate = gate_of(result, "intake")
    assert gate.passed and gate.metadata["attempts"].value == 2
    rows = [r for r in gate.metadata["attempt_history"].value.splitlines() if r.startswith(("| 1 ", "| 2 "))]
    first, second = rows
    assert "| no |" in first and "coverage 0.75 ≥ 1 ✗" in first and "schema 1 ≥ 1 ✓" in first
    assert "coverage: re-run Expander, Validator" in first  # the fix applied after attempt 1
    assert "| yes |" in second and "coverage 1 ≥ 1 ✓" in second and second.endswith("| — |")
    scores = gate.metadata["attempt_scores"].value
    assert [s["attempt"] for s in scores] == [1, 2] and scores[0]["score"] < scores[1]["score"]
    assert "/ 0.70" in first and "/ 0.70" in second  # score vs threshold, per attempt
    artifact = RunStore(settings.runs_dir).load_artifact(run_id, "intake")
    validator = [r for r in artifact.results if r.agent == "Validator"]
    assert [r.iteration for r in validator] == [1] and GAP in (validator[0].output["constraints"][-1]).lower()


def _waive(settings: Settings, run_id: str, expires_at: float, now: float) -> None:
    WaiverStore(Runtime.of(settings).db).record(
        run_id, "intake", "coverage", "alice", "constraint covered by the ops runbook", expires_at, now=now
    )


def _planned_run(settings: Settings) -> str:
    store = RunStore(settings.runs_dir)
    run_id = store.new_run_id(DEMO)
    store.create(run_id, DEMO, ["intake"])
    return run_id


def test_an_active_waiver_lets_the_violation_pass_and_shows_in_the_check_and_the_dossier(
    settings, instance
) -> None:
    run_id = _planned_run(settings)
    _waive(settings, run_id, time.time() + 3600, time.time())
    _, result = run_phases(settings, instance, DEMO, ["intake"], run_id, scripted(settings, NeverCovered))
    assert result.success
    gate = gate_of(result, "intake")
    assert gate.passed and gate.metadata["attempts"].value == 1
    assert "`coverage` by alice until" in gate.metadata["waivers_applied"].value
    assert "coverage 0.75 ≥ 1 waived" in gate.metadata["attempt_history"].value
    store = RunStore(settings.runs_dir)
    dossier = compile_dossier(store, run_id, gather_inputs(Runtime.of(settings).db, store, run_id))
    waivers = [(w.phase, w.violation, w.owner) for w in dossier.run.waivers]
    assert waivers == [("intake", "coverage", "alice")]
    assert "constraint covered by the ops runbook" in render_markdown(dossier)


def test_an_expired_waiver_does_nothing(settings, instance) -> None:
    run_id = _planned_run(settings)
    _waive(settings, run_id, expires_at=time.time() - 60, now=time.time() - 3600)
    _, result = run_phases(settings, instance, DEMO, ["intake"], run_id, scripted(settings, NeverCovered))
    assert not result.success
    gate = gate_of(result, "intake")
    assert not gate.passed and gate.metadata["attempts"].value == 5
    assert gate.metadata["waivers_applied"].value == "none"
    assert "waived" not in gate.metadata["attempt_history"].value
    assert [w.violation for w in WaiverStore(Runtime.of(settings).db).list(run_id)] == ["coverage"]
    assert RunStore(settings.runs_dir).load_phase(run_id, "intake").status == "escalated"
