"""A failing gate fails its blocking check, stores no artifact and stops every downstream phase."""

from __future__ import annotations

from typing import Any

import yaml
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.providers.base import Provider
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.resources import IdeaMineResource


class PersonaBreaks(OfflineProvider):
    """Offline rules, except that the Persona agent returns output missing its required fields."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        output = super().generate(spec, ctx)
        return {"notes": "forgot the personas"} if spec.name == "Persona" else output


class BrokenPersonaResource(IdeaMineResource):
    def provider(self) -> Provider:
        return PersonaBreaks()


def test_failed_gate_blocks_downstream_and_names_the_invalid_artifact(settings, instance) -> None:
    path = settings.config_dir / "ideation.yaml"
    data = yaml.safe_load(path.read_text())
    data["gate"]["pass_threshold"] = 1.0
    path.write_text(yaml.safe_dump(data))
    resource = BrokenPersonaResource(home=str(settings.home), config_dir=str(settings.config_dir))
    run_id, result = run_phases(
        settings, instance, DEMO, phases=["intake", "ideation", "critique"], resources={"ideamine": resource}
    )
    assert not result.success
    checks = {c.asset_key.path[-1]: c for c in result.get_asset_check_evaluations()}
    assert checks["intake"].passed and not checks["ideation"].passed
    gate = checks["ideation"]
    assert gate.metadata["gate_score"].value < 1.0 and gate.metadata["threshold"].value == 1.0
    assert gate.metadata["attempts"].value == 5  # auto-fix re-ran Persona until max_attempts
    assert "Persona" in gate.metadata["reasons"].value and "invalid_schema" in gate.metadata["reasons"].value
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"intake"}
    store = RunStore(settings.runs_dir)
    assert not store.has_artifact(run_id, "ideation") and store.has_artifact(run_id, "ideation.failed")
    assert store.load_phase(run_id, "ideation").status == "escalated"  # waits for a person
    assert store.load_phase(run_id, "critique") is None
    kinds = [e.type for e in store.event_log(run_id).read() if e.phase == "ideation"]
    assert kinds[-2:] == ["phase.gate.failed", "phase.complete"]
