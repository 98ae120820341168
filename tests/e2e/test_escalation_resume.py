"""A gate that cannot pass escalates, and `ideamine resume` continues after a waiver or a config change.

Ideation's config copy raises its grounding guard to 0.99 (the rules reach far less: ideation invents)
with `max_attempts: 2`: after two attempts the run stops, `ideamine status` shows it "waiting for a
person" with the `ideamine waive` command to type. Then either `ideamine waive RUN ideation grounding
--owner … --reason … --expires 7d` or restoring the 0.25 floor, and `ideamine resume RUN`, completes
the run; intake, which had passed, is not run again. Commands run in process (`CliRunner`).
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.cli.app import app

IDEA = "Build a collaborative todo app with real-time sync"


def _ideamine(settings: Settings, *args: str) -> str:
    env = {"IDEAMINE_HOME": str(settings.home), "IDEAMINE_CONFIG_DIR": str(settings.config_dir)}
    result = CliRunner().invoke(app, list(args), env=env | {"COLUMNS": "400"})
    return f"exit={result.exit_code}\n{result.output}"


def _grounding(config_dir: Path, threshold: float) -> None:
    path = config_dir / "ideation.yaml"
    config = yaml.safe_load(path.read_text())
    next(g for g in config["guards"] if g["type"] == "grounding")["threshold"] = threshold
    config["gate"]["max_attempts"] = 2
    path.write_text(yaml.safe_dump(config))


def _escalated_run(settings: Settings) -> str:
    _grounding(settings.config_dir, 0.99)
    out = _ideamine(settings, "run", IDEA, "--phases", "intake,ideation", "--executor", "in_process")
    assert out.startswith("exit=1") and "escalated" in out, out[-3000:]
    (run_id,) = [r.run_id for r in RunStore(settings.runs_dir).list_runs()]
    status = _ideamine(settings, "status")
    assert "waiting for a person" in status and f"ideamine waive {run_id} ideation VIOLATION" in status
    assert f"ideamine resume {run_id}" in status
    return run_id


def _completed_once(settings: Settings, run_id: str, resumed: str) -> None:
    assert resumed.startswith("exit=0"), resumed[-3000:]
    store = RunStore(settings.runs_dir)
    assert {p: store.load_phase(run_id, p).status for p in ("intake", "ideation")} == {
        "intake": "passed",
        "ideation": "passed",
    }
    events = store.event_log(run_id).read()
    runs = collections.Counter(
        e.data["agent"] for e in events if e.type == "phase.agent.complete" and e.phase == "intake"
    )
    assert set(runs.values()) == {1}, runs  # intake had passed: not run again
    assert "passed" in _ideamine(settings, "status")


@pytest.mark.timeout(120)
def test_a_waiver_then_resume_completes_an_escalated_run(settings: Settings) -> None:
    run_id = _escalated_run(settings)
    waived = _ideamine(
        settings, "waive", run_id, "ideation", "grounding",
        "--owner", "alice", "--reason", "personas reviewed by hand", "--expires", "7d",
    )  # fmt: skip
    assert waived.startswith("exit=0"), waived
    _completed_once(settings, run_id, _ideamine(settings, "resume", run_id, "--executor", "in_process"))
    print(f"\nescalation: run {run_id} waited for a person, waived `grounding`, resumed to passed")


@pytest.mark.timeout(120)
def test_a_config_change_then_resume_completes_an_escalated_run(settings: Settings) -> None:
    run_id = _escalated_run(settings)
    _grounding(settings.config_dir, 0.25)
    _completed_once(settings, run_id, _ideamine(settings, "resume", run_id, "--executor", "in_process"))
    print(f"\nescalation: run {run_id} waited for a person, config relaxed, resumed to passed")
