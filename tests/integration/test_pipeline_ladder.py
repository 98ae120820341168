"""A phase's model ladder (YAML `models:`) at pipeline level, against a local chat-completions server.

Intake is configured with `models: [openai:<broken>, openai:<good>]`; the server answers every request
for the broken model with HTTP 500 (asking for a 5 ms pause) and plays the rules model for the good one.
The first agent exhausts its retries on the first rung and falls back; the broken model's circuit
breaker opens (one breaker per model, so the good model of the same provider stays callable) and the
other agents skip it. The phase passes on the second model, and every step taken is recorded as a
ledger `decision` entry of kind `fallback` (model, error class, scrubbed reason, next model).

The same holds for the other classified errors the ladder falls back on: a first rung slower than the
request timeout (a transient error: retried, counted by the breaker, then left), and one that keeps
answering 429 (a rate limit: retried as often as the retry policy allows, never counted by the
breaker, so every agent pays its full retries before falling back).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_llm import FakeLLMServer, Reply
from pipeline_helpers import run_on_model
from rules_model import context_of, rules_answer
from support import DEMO

from ideamine_core.ledger import Ledger
from ideamine_core.providers import factory
from ideamine_core.providers.caller import CallerConfig
from ideamine_core.resilience.circuit_breaker import BreakerPolicy
from ideamine_core.resilience.retry import RetryPolicy
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore

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
        model, run_id = _run_intake(settings, instance, server)
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


def _run_intake(
    settings: Settings, instance: dg.DagsterInstance, server: FakeLLMServer
) -> tuple[Settings, str]:
    """Run the intake phase on `openai:<GOOD>` by default against `server`; the settings and run id."""
    return run_on_model(settings, instance, DEMO, f"openai:{GOOD}", server.url, ["intake"])


def _fallbacks(model: Settings, run_id: str) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """The run's ledger `fallback` decisions and its succeeded tasks as (agent, model)."""
    ledger = Ledger(open_database(model.db_url, embedded=True))
    steps = [d for d in ledger.payloads(run_id, "decision") if d["kind"] == "fallback"]
    tasks = {(t["agent"], t["model"]) for t in ledger.payloads(run_id, "task") if t["status"] == "succeeded"}
    return steps, tasks


def test_a_timeout_on_the_first_rung_falls_back_to_the_second_and_is_recorded(
    settings: Settings, config_dir: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = "slow-model"
    timeout, delay = 0.3, 2.0
    # the timeout is the run's setting (IDEAMINE_MODEL_TIMEOUT); the retry waits are shortened
    settings = settings.model_copy(update={"model_timeout_seconds": timeout})
    fast_retries = RetryPolicy(base_delay=0.01, max_delay=0.05)
    monkeypatch.setattr(factory, "CallerConfig", functools.partial(CallerConfig, retry=fast_retries))
    _with_ladder(config_dir, "intake", [f"openai:{slow}", f"openai:{GOOD}"])
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def slow_first(body: dict[str, Any]) -> Reply:
        reply = rules_answer(body)  # a right answer, but from the slow model too late to be waited for
        reply.delay = delay if body["model"] == slow else 0.0
        return reply

    with FakeLLMServer("openai", responder=slow_first) as server:
        model, run_id = _run_intake(settings, instance, server)
    artifact = RunStore(model.runs_dir).load_artifact(run_id, "intake")
    assert {(r.provenance.provider, r.provenance.model) for r in artifact.results} == {("openai", GOOD)}
    tried = [context_of(r.body).agent for r in server.received if r.body["model"] == slow]
    # a timeout is transient and counts for the breaker, like a 500: Classifier makes the policy's 4
    # attempts, Expander's first one is the 5th failure and opens the breaker, Validator is refused at once
    attempts, threshold = fast_retries.transient_attempts, BreakerPolicy().failure_threshold
    assert attempts < threshold
    assert tried == ["Classifier"] * attempts + ["Expander"] * (threshold - attempts)
    assert [context_of(r.body).agent for r in server.received if r.body["model"] == GOOD] == AGENTS

    steps, tasks = _fallbacks(model, run_id)
    assert sorted(d["agent"] for d in steps) == AGENTS
    for step in steps:
        assert step["phase"] == "intake" and step["detail"]["model"] == f"openai:{slow}"
        assert step["detail"]["retry_class"] == "transient" and step["detail"]["next"] == f"openai:{GOOD}"
    reasons = {d["agent"]: d["reason"] for d in steps}
    assert "timed out" in reasons["Classifier"].lower() and "circuit breaker is open" in reasons["Validator"]
    assert tasks == {(a, GOOD) for a in AGENTS}


def test_a_rate_limit_after_its_retries_falls_back_to_the_second_rung_and_is_recorded(
    settings: Settings, config_dir: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = "limited-model"
    _with_ladder(config_dir, "intake", [f"openai:{limited}", f"openai:{GOOD}"])
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def limited_first(body: dict[str, Any]) -> Reply:
        if body["model"] == limited:
            return Reply(status=429, headers={"Retry-After": "0"})
        return rules_answer(body)

    with FakeLLMServer("openai", responder=limited_first) as server:
        model, run_id = _run_intake(settings, instance, server)
    artifact = RunStore(model.runs_dir).load_artifact(run_id, "intake")
    assert {(r.provenance.provider, r.provenance.model) for r in artifact.results} == {("openai", GOOD)}
    # the run's retry policy: every agent makes all its rate-limit attempts on the first rung (a 429 is
    # the client's doing, so it never opens the breaker), then falls back
    attempts = RetryPolicy().rate_limit_attempts
    assert attempts != RetryPolicy().transient_attempts
    on_rung_1 = [context_of(r.body).agent for r in server.received if r.body["model"] == limited]
    assert on_rung_1 == [a for a in AGENTS for _ in range(attempts)]  # sequential phase: in agent order
    on_rung_2 = [context_of(r.body).agent for r in server.received if r.body["model"] == GOOD]
    assert on_rung_2 == AGENTS

    steps, tasks = _fallbacks(model, run_id)
    assert sorted(d["agent"] for d in steps) == AGENTS
    for step in steps:
        assert step["phase"] == "intake" and step["detail"]["model"] == f"openai:{limited}"
        assert step["detail"]["retry_class"] == "rate_limit" and step["detail"]["next"] == f"openai:{GOOD}"
        assert "429" in step["reason"] and KEY not in str(step)
    assert tasks == {(a, GOOD) for a in AGENTS}
    print(f"rate limit: {len(on_rung_1)} requests answered 429 ({attempts} per agent), then {GOOD}")
