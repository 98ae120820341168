"""The fallback ladder moves to the next model only on the classes it falls back on, recording each step."""

from __future__ import annotations

import asyncio

import pytest

from ideamine_core.errors import (
    BudgetExceededError,
    ContextLengthExceededError,
    ModelHTTPError,
    RateLimitedError,
    RetryClass,
)
from ideamine_core.resilience.fallback_ladder import FallbackStep, LadderExhaustedError, walk_ladder


def _scripted(outcomes: dict[str, BaseException | str]):  # type: ignore[no-untyped-def]
    tried: list[str] = []

    async def attempt(model: str) -> str:
        tried.append(model)
        outcome = outcomes[model]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt, tried


def test_server_errors_and_rate_limits_fall_back_and_are_recorded() -> None:
    attempt, tried = _scripted(
        {
            "a:1": ModelHTTPError("a:1 answered HTTP 500", provider="a", model="1", status=500),
            "a:2": RateLimitedError("a:2 answered HTTP 429", provider="a", model="2", status=429),
            "b:3": "answer",
        }
    )
    answer, steps = asyncio.run(walk_ladder(["a:1", "a:2", "b:3"], attempt))
    assert answer == "answer" and tried == ["a:1", "a:2", "b:3"]
    assert [(s.model, s.retry_class) for s in steps] == [
        ("a:1", RetryClass.TRANSIENT),
        ("a:2", RetryClass.RATE_LIMIT),
    ]
    assert steps[0].error == "a:1 answered HTTP 500"


@pytest.mark.parametrize(
    "error",
    [
        ModelHTTPError("401", provider="a", model="1", status=401),  # fatal: fix the key, not the model
        ContextLengthExceededError("too long", provider="a", model="1"),  # the unsticker chunks the input
        BudgetExceededError("cost_usd", 1.0, 1.0, phase="prd"),  # a refused call is not a model failure
    ],
)
def test_other_errors_stop_the_ladder(error: BaseException) -> None:
    attempt, tried = _scripted({"a:1": error, "b:2": "answer"})
    with pytest.raises(type(error)):
        asyncio.run(walk_ladder(["a:1", "b:2"], attempt))
    assert tried == ["a:1"]


def test_the_last_rungs_error_carries_every_step() -> None:
    attempt, _ = _scripted(
        {
            "a:1": ModelHTTPError("a:1 answered HTTP 503", provider="a", model="1", status=503),
            "b:2": ModelHTTPError("b:2 answered HTTP 502", provider="b", model="2", status=502),
        }
    )
    with pytest.raises(ModelHTTPError) as info:
        asyncio.run(walk_ladder(["a:1", "b:2"], attempt))
    assert info.value.fallback_steps == [  # type: ignore[attr-defined]
        FallbackStep(model="a:1", retry_class=RetryClass.TRANSIENT, error="a:1 answered HTTP 503")
    ]


def test_fallback_on_is_configurable_and_an_empty_ladder_is_an_error() -> None:
    attempt, tried = _scripted(
        {"a:1": RateLimitedError("429", provider="a", model="1", status=429), "b:2": "answer"}
    )
    with pytest.raises(RateLimitedError):
        asyncio.run(walk_ladder(["a:1", "b:2"], attempt, fallback_on={RetryClass.TRANSIENT}))
    assert tried == ["a:1"]
    with pytest.raises(LadderExhaustedError):
        asyncio.run(walk_ladder([], attempt))


def _refused(budget: str, requested: float) -> BudgetExceededError:
    return BudgetExceededError(budget, 0.01, 0.0, phase="intake", requested=requested)


def test_a_budget_refusing_a_call_before_it_is_made_degrades_to_the_next_model() -> None:
    refusal = _refused("cost_usd", 0.0066)  # the first model's estimate does not fit; the next one's does
    attempt, tried = _scripted({"a:big": refusal, "a:small": "answer"})
    answer, steps = asyncio.run(walk_ladder(["a:big", "a:small"], attempt))
    assert answer == "answer" and tried == ["a:big", "a:small"]
    (step,) = steps
    assert (step.model, step.budget, step.requested) == ("a:big", "cost_usd", 0.0066)
    assert step.retry_class is RetryClass.FATAL and "budget `cost_usd`" in step.error


def test_when_no_later_model_fits_the_refusal_says_so_with_every_step() -> None:
    attempt, tried = _scripted(
        {"a:big": _refused("cost_usd", 0.0066), "a:small": _refused("cost_usd", 0.0017)}
    )
    with pytest.raises(BudgetExceededError) as info:
        asyncio.run(walk_ladder(["a:big", "a:small"], attempt))
    error = info.value
    assert tried == ["a:big", "a:small"] and (error.model, error.ladder_exhausted) == ("a:small", True)
    assert [(s.model, s.budget) for s in error.fallback_steps] == [("a:big", "cost_usd")]  # type: ignore[attr-defined]


def test_a_spent_budget_or_degrading_switched_off_stops_at_the_first_model() -> None:
    spent = BudgetExceededError("wallclock_minutes", 1.0, 1.0, phase="intake")  # no estimate: nothing fits
    attempt, tried = _scripted({"a:big": spent, "a:small": "answer"})
    with pytest.raises(BudgetExceededError) as info:
        asyncio.run(walk_ladder(["a:big", "a:small"], attempt))
    assert tried == ["a:big"] and (info.value.model, info.value.ladder_exhausted) == ("a:big", False)
    attempt, tried = _scripted({"a:big": _refused("tokens", 5000), "a:small": "answer"})
    with pytest.raises(BudgetExceededError):
        asyncio.run(walk_ladder(["a:big", "a:small"], attempt, degrade_on_budget=False))
    assert tried == ["a:big"]
