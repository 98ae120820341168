"""A per-agent model override in a phase YAML, at pipeline level, against a local chat-completions server.

The run's default model is `openai:gpt-4.1-mini`. A copy of the intake config gives one agent its own
model (`model: openai:gpt-4.1-nano` on Expander) and another its own ladder (`models:
[openai:validator-broken, openai:gpt-4.1]` on Validator, whose first rung answers HTTP 500); Classifier
has no override. The server's request log (each request names its agent in its instructions), the
artifact's provenance and the ledger's task entries must agree: each overridden agent called only its
own models, Classifier only the run's default, and only Validator took a fallback step.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_llm import FakeLLMServer, Reply
from pipeline_helpers import run_on_model
from rules_model import context_of, rules_answer
from support import DEMO

from ideamine_core.config.loader import load_phase_file
from ideamine_core.ledger import Ledger
from ideamine_core.resilience.retry import RetryPolicy
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore

pytestmark = [pytest.mark.usefixtures("allow_local_model_requests")]

KEY = "sk-agent-models-canary-9d2a"
DEFAULT, OWN, BROKEN, RESCUE = "gpt-4.1-mini", "gpt-4.1-nano", "validator-broken", "gpt-4.1"


def _answer(body: dict[str, Any]) -> Reply:
    if body["model"] == BROKEN:
        return Reply(status=500, headers={"retry-after-ms": "5"})
    return rules_answer(body)


def _override(config_dir: Path) -> None:
    """Give Expander its own model and Validator its own ladder; Classifier keeps the run's default."""
    path = config_dir / "intake.yaml"
    text = path.read_text()
    for agent, line in [
        ("Expander", f"model: openai:{OWN}"),
        ("Validator", f"models: [openai:{BROKEN}, openai:{RESCUE}]"),
    ]:
        assert f"  - name: {agent}\n" in text
        text = text.replace(f"  - name: {agent}\n", f"  - name: {agent}\n    {line}\n")
    path.write_text(text)
    config = load_phase_file(path)  # the override is what the config says, for these agents only
    assert config.models == [] and config.models_for("Classifier") == []
    assert config.models_for("Expander") == [f"openai:{OWN}"]
    assert config.models_for("Validator") == [f"openai:{BROKEN}", f"openai:{RESCUE}"]


def test_a_per_agent_model_in_the_phase_yaml_is_used_for_that_agent_only(
    settings: Settings, config_dir: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _override(config_dir)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeLLMServer("openai", responder=_answer) as server:
        model, run_id = run_on_model(settings, instance, DEMO, f"openai:{DEFAULT}", server.url, ["intake"])

    asked: dict[str, list[str]] = defaultdict(list)  # the server's log: agent → models asked, in order
    for request in server.received:
        asked[context_of(request.body).agent].append(request.body["model"])
    attempts = RetryPolicy().transient_attempts  # the broken rung: retried by the run's policy, then left
    assert dict(asked) == {
        "Classifier": [DEFAULT],
        "Expander": [OWN],
        "Validator": [BROKEN] * attempts + [RESCUE],
    }

    answered = {"Classifier": DEFAULT, "Expander": OWN, "Validator": RESCUE}
    artifact = RunStore(model.runs_dir).load_artifact(run_id, "intake")
    assert {r.agent: (r.provenance.provider, r.provenance.model) for r in artifact.results} == {
        agent: ("openai", name) for agent, name in answered.items()
    }
    ledger = Ledger(open_database(model.db_url, embedded=True))
    tasks = [t for t in ledger.payloads(run_id, "task") if t["status"] == "succeeded"]
    assert sorted((t["agent"], t["model"]) for t in tasks) == sorted(answered.items())
    steps = [d for d in ledger.payloads(run_id, "decision") if d["kind"] == "fallback"]
    assert [(d["agent"], d["detail"]["model"], d["detail"]["next"]) for d in steps] == [
        ("Validator", f"openai:{BROKEN}", f"openai:{RESCUE}")
    ]
    print(f"per-agent models: {dict(asked)}")
