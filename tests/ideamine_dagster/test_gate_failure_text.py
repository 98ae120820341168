"""The failure a blocked gate step reports (Dagster UI, run failure sensor) says why, truthfully.

A gate fails when its mean score is below the threshold, and also when one guard misses its own
threshold while the mean passes; the text must not claim "score < threshold" in the second case.
"""

from __future__ import annotations

import dagster as dg
import yaml
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore


def _gate_failure(result: dg.ExecuteInProcessResult, phase: str) -> str:
    failures = [
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.step_key == f"{phase}.{phase}__gate"
    ]
    assert len(failures) == 1, failures
    return failures[0]


def test_gate_failed_by_a_guard_while_the_mean_score_passes_says_so(settings: Settings, instance) -> None:
    path = settings.config_dir / "intake.yaml"
    data = yaml.safe_load(path.read_text())
    data["guards"].append({"type": "grounding", "threshold": 1.0})  # the offline intake cannot reach it
    data["gate"] |= {"pass_threshold": 0.5, "max_attempts": 1, "auto_fix_enabled": False}
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    run_id, result = run_phases(settings, instance, DEMO, phases=["intake"])

    assert not result.success
    record = RunStore(settings.runs_dir).load_phase(run_id, "intake")
    assert record is not None and record.status == "escalated"
    assert record.gate_score is not None and record.threshold is not None
    assert record.gate_score >= record.threshold
    message = _gate_failure(result, "intake")
    assert "gate of phase intake failed after 1 attempt(s)" in message
    assert f"score {record.gate_score:.2f} ≥ threshold {record.threshold:.2f}, but a guard failed" in message
    assert " < " not in message.split("(")[0]
    assert "(grounding " in message and "waiting for a person" in message


def test_gate_failed_by_its_mean_score_says_score_below_threshold(settings: Settings, instance) -> None:
    path = settings.config_dir / "intake.yaml"
    data = yaml.safe_load(path.read_text())
    data["guards"].append({"type": "grounding", "threshold": 1.0})
    data["gate"] |= {"pass_threshold": 0.99, "max_attempts": 1, "auto_fix_enabled": False}
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    run_id, result = run_phases(settings, instance, DEMO, phases=["intake"])

    assert not result.success
    record = RunStore(settings.runs_dir).load_phase(run_id, "intake")
    assert record is not None and record.gate_score is not None and record.gate_score < 0.99
    message = _gate_failure(result, "intake")
    assert f"score {record.gate_score:.2f} < threshold 0.99" in message
    assert "but a guard failed" not in message
