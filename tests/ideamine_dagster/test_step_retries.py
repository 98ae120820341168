"""Dagster retries an agent step for a transient error, never for a fatal one (RELIABILITY: fatal
classes are never retried by Dagster either), on a temporary instance.

One intake run (sequential: one Dagster step per agent, each with the ops' retry policy):
- Classifier's model answers HTTP 429 (`Retry-After: 0`) to every request of its first step attempt:
  our retry policy gives up after its rate-limit attempts, the step raises RateLimitedError, Dagster
  retries the step (STEP_UP_FOR_RETRY, STEP_RESTARTED) and the second attempt succeeds.
- Expander is configured with a hosted model, and model requests are disabled (the request gate, as in
  every test): ModelRequestsDisabledError is fatal, so its step fails once, with no retry event, even
  though the op has a retry policy for unexpected errors.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import dagster as dg
import pydantic_ai.exceptions as pai
import pytest
import yaml
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.providers.base import Provider
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.resilience.retry import RetryPolicy
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_dagster.resources import IdeaMineResource

REQUESTS: Counter[str] = Counter()
"""Requests the Classifier's model received, per run (provider objects are made per step attempt)."""
RATE_LIMITED = RetryPolicy().rate_limit_attempts
"""Requests answered 429: every attempt our retry policy makes in the first step attempt."""


class RateLimitedFirst(OfflineProvider):
    """The offline rules, except that Classifier's first RATE_LIMITED requests get HTTP 429."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        if spec.name == "Classifier":
            REQUESTS[ctx.run_id] += 1
            if REQUESTS[ctx.run_id] <= RATE_LIMITED:
                body = {"error": {"message": "Rate limit reached for requests"}}
                raise pai.ModelHTTPError(429, "offline", body, headers={"retry-after": "0"})
        return super().generate(spec, ctx)


class RateLimitedResource(IdeaMineResource):
    def provider(self) -> Provider:
        return RateLimitedFirst()


def _step_events(result: dg.ExecuteInProcessResult, agent: str) -> list[dg.DagsterEventType]:
    step = f"intake.intake__{agent}"
    return [e.event_type for e in result.all_events if e.step_key == step]


def test_a_rate_limit_is_retried_by_dagster_and_a_refused_request_is_not(
    settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")  # configured, so the request gate decides
    path = settings.config_dir / "intake.yaml"
    config = yaml.safe_load(path.read_text())
    config["agents"] = [
        {"name": "Classifier"},
        {"name": "Expander", "models": ["openai:gpt-4.1-mini"]},
        {"name": "Validator"},
    ]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    resource = RateLimitedResource(home=str(settings.home), config_dir=str(settings.config_dir))

    run_id, result = run_phases(settings, instance, DEMO, phases=["intake"], resources={"ideamine": resource})

    assert not result.success
    retried, restarted = dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED
    # transient (rate limit): the step is retried once by Dagster, and then succeeds
    classifier = _step_events(result, "classifier")
    assert classifier.count(retried) == 1 and classifier.count(restarted) == 1
    assert classifier[-1] == dg.DagsterEventType.STEP_SUCCESS
    assert REQUESTS[run_id] == RATE_LIMITED + 1  # our policy's attempts, then one more in the retry
    # fatal (the request gate refused the call): one failure, never up for retry nor restarted
    expander = _step_events(result, "expander")
    assert retried not in expander and restarted not in expander
    assert expander.count(dg.DagsterEventType.STEP_FAILURE) == 1
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "intake.intake__expander"
    assert "blocked" in failure.event_specific_data.error.message  # ModelRequestsDisabledError's text
    assert not _step_events(result, "validator")  # downstream of the failed step: never started
    # the supervisor's decision for the rate limit (back off) is in the ledger; none for the fatal error
    decisions = [e.data for e in Runtime.of(settings).ledger.entries(run_id) if e.type == "decision"]
    unstick = [(d["mode"], d["strategy"]) for d in decisions if "mode" in d]
    assert unstick == [("rate_limit", "backoff")]
