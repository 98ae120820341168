"""Budget meter on SQLite and PostgreSQL (RELIABILITY test 25 at library level): with caps at half of a
normal phase's tokens, cost and wall-clock, the phase is stopped with an error naming the budget, the
limit and the usage, and overshoots by at most one call (tokens ≤ one request's max_tokens, cost ≤ one
call's price, wall-clock ≤ one heartbeat interval); parallel workers share the cap through
reservations; usage persists so a resumed phase continues counting; cache hits and failed calls cost
nothing; a settled call counts once however often it is recorded. It plugs into the model caller's
`before_call(CallEstimate)` / `after_call(CallRecord)` hooks as they are."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from ideamine_core.domain.phase import Budgets
from ideamine_core.errors import BudgetExceededError
from ideamine_core.providers import pricing
from ideamine_core.providers.base import CallEstimate, CallRecord, RequestRecord
from ideamine_core.resilience.budgets import BudgetMeter
from ideamine_core.resilience.fallback_ladder import walk_ladder
from ideamine_core.storage.database import Database

MAX_OUT = 400
PRICE_IN, PRICE_OUT = 2e-6, 8e-6


def _estimate(key: str, tokens_in: int) -> CallEstimate:
    cost = tokens_in * PRICE_IN + MAX_OUT * PRICE_OUT
    return CallEstimate(
        run_id="r", phase="prd", agent="PRDWriter", provider="openai", model="m", request_hash=key,
        input_tokens=tokens_in, max_output_tokens=MAX_OUT, cost_usd=cost,
    )  # fmt: skip


def _record(key: str, tokens_in: int, tokens_out: int, *, cached: bool = False) -> CallRecord:
    cost = tokens_in * PRICE_IN + tokens_out * PRICE_OUT
    request = RequestRecord(
        request_hash=key, provider="openai", model="m", tokens_in=tokens_in, tokens_out=tokens_out,
        cost_usd=0.0 if cached else cost, latency_ms=1.0, cached=cached,
    )  # fmt: skip
    return CallRecord(
        run_id="r", phase="prd", agent="PRDWriter", provider="openai", model="m", requests=[request]
    )


def _run_calls(meter: BudgetMeter, n: int, rng: random.Random, prefix: str = "c") -> tuple[int, list[float]]:
    """Make up to n calls; return how many ran and the pre-call estimate errors (%)."""
    errors = []
    for i in range(n):
        est_in = rng.randint(500, 1500)
        actual_in = int(est_in * rng.uniform(0.9, 1.1))  # the estimate is ±10 %
        actual_out = rng.randint(50, MAX_OUT)
        meter.before_call(_estimate(f"{prefix}{i}", est_in))
        meter.after_call(_record(f"{prefix}{i}", actual_in, actual_out))
        errors.append(100 * (est_in + MAX_OUT - actual_in - actual_out) / (actual_in + actual_out))
    return n, errors


def _normal_run(db: Database) -> tuple[int, float]:
    meter = BudgetMeter(db, run_id="normal", phase="prd", budgets=Budgets())
    _run_calls(meter, 20, random.Random(7))
    usage = meter.usage()
    return usage.tokens, usage.cost_usd


@pytest.mark.parametrize("budget", ["tokens", "cost_usd"])
def test_a_cap_at_half_a_run_stops_the_phase_naming_the_budget(db: Database, budget: str) -> None:
    tokens, cost = _normal_run(db)
    cap = {"tokens": tokens // 2, "cost_usd": cost / 2}[budget]
    meter = BudgetMeter(db, run_id="capped", phase="prd", budgets=Budgets(**{budget: cap}))
    with pytest.raises(BudgetExceededError) as info:
        _run_calls(meter, 20, random.Random(7))
    error = info.value
    used = getattr(meter.usage(), budget)
    overshoot = used - cap
    one_call = MAX_OUT + 1650 if budget == "tokens" else 1650 * PRICE_IN + MAX_OUT * PRICE_OUT
    assert -one_call <= overshoot <= one_call  # stopped within one call of the cap, on either side
    assert f"budget `{budget}` exhausted" in error.explain() and f"budgets.{budget}" in error.explain()
    assert (error.budget, error.limit) == (budget, pytest.approx(cap))
    assert error.requested > 0  # refused before the call: a cheaper model might still fit
    print(
        f"\nbudget {budget}: cap {cap:.6g} (50 % of a run), used {used:.6g}, overshoot {overshoot:.6g}",
        end="",
    )
    print(f" (one call {one_call:.6g}); the report names the budget: yes")


def test_estimate_error_is_reported(db: Database) -> None:
    meter = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets())
    _, errors = _run_calls(meter, 20, random.Random(3))
    mean = sum(errors) / len(errors)
    assert all(e > -11 for e in errors)  # the estimate bounds the actual, up to the ±10 % input error
    print(f"\nbudget pre-call estimate vs actual: mean over-estimate {mean:.1f} %, min {min(errors):.1f} %")


def test_wallclock_overshoots_by_at_most_one_heartbeat_interval(db: Database) -> None:
    now = [1000.0]
    meter = BudgetMeter(
        db, run_id="r", phase="prd", budgets=Budgets(wallclock_minutes=1.0), clock=lambda: now[0]
    )
    interval = 5.0
    with pytest.raises(BudgetExceededError, match="wallclock_minutes"):
        while True:  # what the heartbeat thread does between beats
            now[0] += interval
            meter.check_wallclock()
    overshoot = meter.usage().wallclock_minutes * 60 - 60
    assert 0 <= overshoot <= interval
    with pytest.raises(BudgetExceededError):
        meter.before_call(_estimate("late", 10))


def test_parallel_workers_share_the_cap(db: Database) -> None:
    cap = 20_000
    hits: list[int] = []

    def worker(n: int) -> None:
        meter = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets(tokens=cap))
        try:
            _run_calls(meter, 40, random.Random(n), prefix=f"w{n}-")
        except BudgetExceededError:
            hits.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets()).usage().tokens
    assert sorted(hits) == [0, 1, 2, 3]
    assert cap - 2 * (1650 + MAX_OUT) <= used <= cap + 150  # nothing past the cap but ±10 % of one input


def test_usage_persists_for_a_resumed_phase(db: Database) -> None:
    first = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets(tokens=5000))
    first.before_call(_estimate("a", 1000))
    first.after_call(_record("a", 1000, 300))
    resumed = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets(tokens=5000))  # a new process
    assert resumed.usage().tokens == 1300
    assert resumed.remaining()["tokens"] == 3700
    other_phase = BudgetMeter(db, run_id="r", phase="qa", budgets=Budgets(tokens=5000))
    assert other_phase.usage().tokens == 0


def test_cache_hits_failures_and_repeats_cost_nothing_extra(db: Database) -> None:
    meter = BudgetMeter(db, run_id="r", phase="prd", budgets=Budgets(tokens=10_000))
    meter.after_call(_record("cached", 900, 300, cached=True))
    assert meter.usage().tokens == 0
    meter.before_call(_estimate("fails", 900))
    assert meter.usage().tokens == 900 + MAX_OUT  # reserved while in flight
    meter.after_call(
        CallRecord(run_id="r", phase="prd", agent="A", provider="openai", model="m", outcome="failed")
    )
    assert meter.usage().tokens == 0
    meter.before_call(_estimate("ok", 900))
    meter.after_call(_record("ok", 900, 100))
    meter.after_call(_record("ok", 900, 100))  # recorded twice (a retried hook)
    assert meter.usage().tokens == 1000


def test_overlapping_wall_segments_count_once(db: Database) -> None:
    now = [0.0]
    budgets = Budgets(wallclock_minutes=100)
    a = BudgetMeter(db, run_id="r", phase="prd", budgets=budgets, clock=lambda: now[0])
    now[0] = 30.0
    b = BudgetMeter(db, run_id="r", phase="prd", budgets=budgets, clock=lambda: now[0])
    now[0] = 60.0
    a.check_wallclock()
    b.check_wallclock()
    assert a.usage().wallclock_minutes == pytest.approx(1.0)  # 0..60 and 30..60 overlap
    tool = a.record_tool("pytest-run-1", 90.0)
    assert tool.tools_minutes == pytest.approx(1.5)
    assert a.record_tool("pytest-run-1", 90.0).tools_minutes == pytest.approx(1.5)  # idempotent


LADDER = ["openai:gpt-4.1-mini", "openai:gpt-4.1-nano"]  # the second is about four times cheaper


def _ladder_estimate(model: str, tokens_in: int = 1000) -> CallEstimate:
    provider, name = model.split(":")
    return CallEstimate(
        run_id="r", phase="intake", agent="Classifier", provider=provider, model=name,
        request_hash=f"call-1:{model}", input_tokens=tokens_in, max_output_tokens=4096,
        cost_usd=pricing.cost_usd(provider, name, tokens_in, 4096),
    )  # fmt: skip


def _reserving(meter: BudgetMeter):  # type: ignore[no-untyped-def]
    async def attempt(model: str) -> str:
        meter.before_call(_ladder_estimate(model))  # what GovernedModel does before sending
        return model

    return attempt


def test_a_cost_cap_too_tight_for_the_first_model_degrades_to_a_cheaper_one_that_fits(db: Database) -> None:
    mini, nano = (_ladder_estimate(m).cost_usd or 0.0 for m in LADDER)
    cap = (mini + nano) / 2  # the first model's reservation does not fit, the second's does
    meter = BudgetMeter(db, run_id="r", phase="intake", budgets=Budgets(cost_usd=cap))
    answer, steps = asyncio.run(walk_ladder(LADDER, _reserving(meter)))
    assert answer == "openai:gpt-4.1-nano"
    (step,) = steps
    assert (step.model, step.budget) == ("openai:gpt-4.1-mini", "cost_usd")
    assert step.requested == pytest.approx(mini) and "budget `cost_usd`" in step.error
    # the refused model reserved nothing; the cheaper one reserved its own estimate
    assert meter.usage().cost_usd == pytest.approx(nano)


def test_a_cost_cap_no_model_fits_stops_after_trying_each(db: Database) -> None:
    nano = _ladder_estimate(LADDER[1]).cost_usd or 0.0
    meter = BudgetMeter(db, run_id="r", phase="intake", budgets=Budgets(cost_usd=nano / 2))
    with pytest.raises(BudgetExceededError) as info:
        asyncio.run(walk_ladder(LADDER, _reserving(meter)))
    error = info.value
    assert (error.budget, error.model, error.ladder_exhausted) == ("cost_usd", LADDER[1], True)
    assert error.requested == pytest.approx(nano) and meter.usage().cost_usd == 0.0
    assert [s.model for s in error.fallback_steps] == [LADDER[0]]  # type: ignore[attr-defined]
