"""Usage totals per phase and per agent: sums of paid tokens and cost, counts of cache hits and repairs."""

from __future__ import annotations

from ideamine_core.providers.accounting import UsageTotals, usage_by_agent, usage_totals
from ideamine_core.providers.base import CallRecord, RequestRecord
from ideamine_core.resilience.fallback_ladder import FallbackStep


def _request(cached: bool) -> RequestRecord:
    return RequestRecord(
        request_hash="sha256:x",
        provider="openai",
        model="m",
        tokens_in=10,
        tokens_out=2,
        cost_usd=0.01,
        latency_ms=5.0,
        cached=cached,
    )


def _record(agent: str, cost: float | None, *, cached: bool = False, outcome: str = "ok") -> CallRecord:
    return CallRecord(
        run_id="r",
        phase="prd",
        agent=agent,
        provider="openai",
        model="m",
        tokens_in=0 if cached else 10,
        tokens_out=0 if cached else 2,
        cost_usd=0.0 if cached else cost,
        latency_ms=7.5,
        requests=[_request(cached), _request(cached)],
        repair_attempts=1,
        retries=2,
        fallback_steps=[FallbackStep(model="openai:a", retry_class="transient", error="HTTP 500")],
        cached=cached,
        outcome=outcome,  # type: ignore[arg-type]
    )


def test_totals_sum_paid_usage_and_count_the_rest() -> None:
    totals = usage_totals(
        [_record("A", 0.02), _record("B", 0.03, cached=True), None, _record("A", 0.01, outcome="failed")]
    )
    assert totals == UsageTotals(
        calls=3,
        requests=6,
        cached_requests=2,
        tokens_in=20,
        tokens_out=4,
        cost_usd=0.03,
        latency_ms=22.5,
        repair_attempts=3,
        retries=6,
        fallback_steps=3,
        failed_calls=1,
    )


def test_one_unknown_price_makes_the_total_unknown_and_agents_are_grouped() -> None:
    assert usage_totals([_record("A", 0.02), _record("B", None)]).cost_usd is None
    by_agent = usage_by_agent([_record("B", 0.03), _record("A", 0.01), _record("A", 0.02)])
    assert list(by_agent) == ["A", "B"] and by_agent["A"].calls == 2 and by_agent["A"].cost_usd == 0.03
