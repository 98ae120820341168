"""A phase's model ladder (YAML `models:`) at pipeline level, against a local chat-completions server.

Intake is configured with `models: [openai:<broken>, openai:<good>]`; the server answers every request
for the broken model with HTTP 500 (asking for a 5 ms pause) and plays the rules model for the good one.
The first agent exhausts its retries on the first rung and falls back; the broken model's circuit
breaker opens (one breaker per model, so the good model of the same provider stays callable) and the
other agents skip it. The phase passes on the second model, and every step taken is recorded as a
ledger `decision` entry of kind `fallback` (model, error class, scrubbed reason, next model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_llm import FakeLLMServer, Reply
from rules_model import rules_answer
from support import DEMO

from ideamine_core.ledger import Ledger
from ideamine_core.resilience.circuit_breaker import BreakerPolicy
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.launcher import create_run, execute_run

pytestmark = [pytest.mark.usefixtures("allow_local_model_requests")]

KEY = "sk-ladder-canary-5e1f0c"
BROKEN, GOOD = "broken-model", "gpt-4.1-mini"
AGENTS = ["Classifier", "Expander", "Validator"]


def _broken_first(body: dict[str, Any]) -> Reply:
    if body["model"] == BROKEN:
        return Reply(status=500, headers={"retry-after-ms": "5"})
    return rules_answer(body)


def _with_ladder(config_dir: Path, phase: str, models: list[str]) -> None:
    path = config_dir / f"{phase}.yaml"
    path.write_text(path.read_text() + f"models: [{', '.join(models)}]\n")


def test_a_500_on_the_first_rung_falls_back_to_the_second_and_is_recorded(
    settings: Settings, config_dir: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_ladder(config_dir, "intake", [f"openai:{BROKEN}", f"openai:{GOOD}"])
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeLLMServer("openai", responder=_broken_first) as server:
        model = settings.model_copy(update={"model": f"openai:{GOOD}", "model_base_url": server.url})
        run_id = create_run(model, DEMO, ["intake"]).run_id
        _, success = execute_run(model, instance, RunStore(model.runs_dir).load_run(run_id), "in_process")
        assert success
    artifact = RunStore(model.runs_dir).load_artifact(run_id, "intake")
    assert {(r.provenance.provider, r.provenance.model) for r in artifact.results} == {("openai", GOOD)}
    by_model = {m: sum(1 for r in server.received if r.body["model"] == m) for m in (BROKEN, GOOD)}
    # Classifier: 4 attempts (the retry policy); Expander: the 5th failure opens the broken model's breaker
    # (per model: the good model of the same provider stays callable); Validator: refused at once
    assert by_model == {BROKEN: BreakerPolicy().failure_threshold, GOOD: 3}

    ledger = Ledger(open_database(model.db_url, embedded=True))
    steps = [d for d in ledger.payloads(run_id, "decision") if d["kind"] == "fallback"]
    assert sorted(d["agent"] for d in steps) == AGENTS
    for step in steps:
        assert step["phase"] == "intake" and step["detail"]["model"] == f"openai:{BROKEN}"
        assert step["detail"]["retry_class"] == "transient" and step["detail"]["next"] == f"openai:{GOOD}"
        assert KEY not in str(step)
    reasons = {d["agent"]: d["reason"] for d in steps}
    assert "500" in reasons["Classifier"] and "circuit breaker is open" in reasons["Validator"]
    tasks = [t for t in ledger.payloads(run_id, "task") if t["status"] == "succeeded"]
    assert {(t["agent"], t["model"]) for t in tasks} == {(a, GOOD) for a in AGENTS}
    print(f"ladder: {by_model[BROKEN]} refused requests on {BROKEN}, {len(steps)} fallback steps recorded")
