"""The ModelCaller without a network: offline through pydantic-ai, hooks, guard, ladder, invalid output.

The offline model is a FunctionModel driven by the rules, so its calls are validated and accounted
like real ones; `before_call` sees an estimate and can refuse; `after_call` sees every record, failed
ones too; a guard that refuses a provider moves the ladder on; output that never validates ends in
ModelOutputInvalidError carrying the raw output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import BudgetExceededError, ModelOutputInvalidError
from ideamine_core.providers.base import CallEstimate, CallRecord
from ideamine_core.providers.cache import CacheMode
from ideamine_core.providers.caller import CallerConfig, ModelCaller, cache_mode_from_env
from ideamine_core.providers.factory import build_caller
from ideamine_core.providers.model_id import ModelRef
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.settings import Settings

CLOSED_PORT_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens there
DEMO = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", users=["remote teams"])


def _ctx(agent: str = "Classifier", phase: str = "intake") -> AgentContext:
    return AgentContext(run_id="run-1", phase=phase, agent=agent, submission=DEMO)


class BrokenOutput(OfflineProvider):
    """Offline rules, except that the output misses every required field."""

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        return {"notes": ["forgot the rest"]}


class RefuseAll:
    """A call guard (circuit breaker stand-in) that refuses every provider and counts what it saw."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failures: list[BaseException] = []

    def allow(self, provider: str) -> bool:
        self.asked.append(provider)
        return False

    def on_success(self, provider: str) -> None:
        raise AssertionError("no call may succeed while refused")

    def on_failure(self, provider: str, exc: BaseException) -> None:
        self.failures.append(exc)


def test_offline_goes_through_pydantic_ai_and_is_accounted() -> None:
    spec, ctx = get_agent("Classifier"), _ctx()
    call = ModelCaller().call(spec, ctx)
    assert call.output == spec.offline_rule(ctx).model_dump(mode="json")
    assert call.model == ModelRef("offline", "offline-rules")
    record = call.record
    assert (record.provider, record.model, record.cost_usd, record.outcome) == (
        "offline",
        "offline-rules",
        0.0,
        "ok",
    )
    assert record.tokens_in > 0 and record.tokens_out > 0 and len(record.requests) == 1
    assert record.request_hash == record.requests[0].request_hash and not record.cached


def test_hooks_see_an_estimate_before_and_the_record_after() -> None:
    estimates: list[CallEstimate] = []
    records: list[CallRecord] = []
    caller = ModelCaller(before_call=estimates.append, after_call=records.append)
    call = caller.call(get_agent("Expander"), _ctx("Expander"))
    (estimate,) = estimates
    assert (estimate.agent, estimate.provider, estimate.cost_usd) == ("Expander", "offline", 0.0)
    assert estimate.input_tokens > 0 and estimate.max_output_tokens == 4096
    assert estimate.request_hash == call.record.request_hash and records == [call.record]


def test_before_call_can_refuse_and_after_call_still_sees_the_record() -> None:
    records: list[CallRecord] = []

    def refuse(estimate: CallEstimate) -> None:
        raise BudgetExceededError("tokens", 10, 10, phase=estimate.phase, requested=estimate.input_tokens)

    caller = ModelCaller(before_call=refuse, after_call=records.append)
    with pytest.raises(BudgetExceededError) as info:
        caller.call(get_agent("Classifier"), _ctx())
    record = info.value.call_record  # type: ignore[attr-defined]
    assert records == [record] and record.outcome == "failed" and record.requests == []
    assert "budget `tokens` exhausted" in (record.error or "")


def test_a_refusing_guard_moves_the_ladder_on_without_a_request(allow_local_model_requests: None) -> None:
    guard = RefuseAll()
    config = CallerConfig(models=("openai:gpt-4.1-mini", "offline"), openai_base_url=CLOSED_PORT_URL)
    call = ModelCaller(config, guard=guard, cache=None).call(get_agent("Classifier"), _ctx())
    assert guard.asked == ["openai:gpt-4.1-mini"] and guard.failures == []
    assert call.model.is_offline
    (step,) = call.record.fallback_steps
    assert step.model == "openai:gpt-4.1-mini" and "circuit breaker is open" in step.error


def test_a_budget_refusing_the_first_model_before_the_call_degrades_to_the_next(
    allow_local_model_requests: None,
) -> None:
    estimates: list[CallEstimate] = []
    records: list[CallRecord] = []

    def cost_cap(estimate: CallEstimate) -> None:  # a budget meter with `cost_usd: 0.001` left
        estimates.append(estimate)
        if (estimate.cost_usd or 0.0) > 0.001:
            raise BudgetExceededError(
                "cost_usd", 0.001, 0.0, phase="intake", requested=estimate.cost_usd or 0
            )

    config = CallerConfig(models=("openai:gpt-4.1-mini", "offline"), openai_base_url=CLOSED_PORT_URL)
    caller = ModelCaller(config, before_call=cost_cap, after_call=records.append, cache=None)
    call = caller.call(get_agent("Classifier"), _ctx())
    assert call.model.is_offline and records == [call.record]
    assert [(e.provider, e.model) for e in estimates] == [
        ("openai", "gpt-4.1-mini"),
        ("offline", "offline-rules"),
    ]
    (step,) = call.record.fallback_steps
    assert (step.model, step.budget, step.requested) == (
        "openai:gpt-4.1-mini",
        "cost_usd",
        estimates[0].cost_usd,
    )
    # refused before it was sent: no request to the closed port, no retry, only the offline request
    assert call.record.retries == 0 and [r.provider for r in call.record.requests] == ["offline"]


def test_output_that_never_validates_ends_with_the_raw_output() -> None:
    records: list[CallRecord] = []
    caller = ModelCaller(offline=BrokenOutput(), after_call=records.append)
    with pytest.raises(ModelOutputInvalidError) as info:
        caller.call(get_agent("Classifier"), _ctx())
    error = info.value
    assert error.attempts == 1 and error.last_raw_output == '{"notes": ["forgot the rest"]}'
    assert "forgot the rest" in error.explain() and "category" in (error.validation_error or "")
    assert records[0].outcome == "invalid_output" and error.call_record is records[0]  # type: ignore[attr-defined]


def test_ladder_defaults_and_overrides() -> None:
    caller = ModelCaller(CallerConfig(models=("openai:a", "offline")))
    assert [str(r) for r in caller.ladder()] == ["openai:a", "offline"]
    assert [str(r) for r in caller.ladder(["anthropic:b,openai:a"])] == ["anthropic:b", "openai:a"]
    assert [str(r) for r in caller.ladder([])] == ["openai:a", "offline"]


def test_replay_needs_a_cache_and_the_mode_comes_from_the_environment() -> None:
    with pytest.raises(ValueError, match="replay needs a response cache"):
        ModelCaller(CallerConfig(cache_mode=CacheMode.REPLAY))
    assert cache_mode_from_env({"IDEAMINE_CACHE_MODE": "replay"}) is CacheMode.REPLAY
    assert cache_mode_from_env({}) is CacheMode.READ_WRITE
    with pytest.raises(Exception, match="not a cache mode"):
        cache_mode_from_env({"IDEAMINE_CACHE_MODE": "sometimes"})


def test_build_caller_reads_the_settings_and_offline_never_opens_the_database(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        config_dir=tmp_path,
        model="openai:gpt-4.1-mini, offline",
        model_base_url="http://127.0.0.1:9/v1",
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/unreachable",
    )
    caller = build_caller(settings, env={"IDEAMINE_CACHE_MODE": "replay"}, offline=BrokenOutput())
    config = caller.config
    assert config.models == ("openai:gpt-4.1-mini", "offline") and config.cache_mode is CacheMode.REPLAY
    assert config.openai_base_url == "http://127.0.0.1:9/v1" and caller.offline.__class__ is BrokenOutput
    assert config.prompt_dirs == (tmp_path / "prompts",)
    offline_only = build_caller(settings.model_copy(update={"model": "offline"}), env={})
    assert offline_only.call(get_agent("Classifier"), _ctx()).record.outcome == "ok"  # no database needed
