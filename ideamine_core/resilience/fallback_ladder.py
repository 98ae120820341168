"""Fallback ladder: try models in order, moving on only on classified errors, recording each step.

Two reasons move a call down the ladder: an error of a class it falls back on (server errors,
timeouts, refused calls, rate limits), and a budget that refused the call *before* it was made
because the model's estimate would not fit (a later, cheaper model's smaller estimate may: the
`degrade_model` step, recorded with the budget's name). A budget already spent, or a refusal on the
last rung, ends the walk; the error then says which model was refused and that no later one was left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import BudgetExceededError, IdeaMineError, RetryClass
from ideamine_core.resilience.retry import classify

T = TypeVar("T")

DEFAULT_FALLBACK_ON: frozenset[RetryClass] = frozenset({RetryClass.TRANSIENT, RetryClass.RATE_LIMIT})
"""Server errors, timeouts, refused calls and rate limits (after their own retries) move down the ladder."""


class FallbackStep(BaseModel):
    """One rung that failed and was left for the next: which model, what class of error, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="The model id that failed, 'provider:model'.")
    retry_class: RetryClass = Field(description="The class of its last error.")
    error: str = Field(description="The error message (secrets already scrubbed).")
    budget: str | None = Field(
        default=None,
        description="The budget that refused this model's call before it was made (a degrade to the "
        "next, cheaper model), else None.",
    )
    requested: float | None = Field(
        default=None, description="What the refused call's estimate needed of that budget."
    )


class LadderExhaustedError(IdeaMineError):
    """Raised only for an empty ladder; a failing last rung re-raises its own error."""


async def walk_ladder(
    models: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    fallback_on: Collection[RetryClass] = DEFAULT_FALLBACK_ON,
    degrade_on_budget: bool = True,
) -> tuple[T, list[FallbackStep]]:
    """Await `attempt(model)` for each model in turn until one succeeds; its result and the steps taken.

    An error whose class is in `fallback_on`, or (with `degrade_on_budget`) a budget refusing the
    call before it was made, is recorded as a step and the next model is tried; any other error, or
    the last rung's error, is raised with the steps so far on its `fallback_steps`.
    """
    if not models:
        raise LadderExhaustedError("no model to call: the fallback ladder is empty", fix="configure a model")
    steps: list[FallbackStep] = []
    for index, model in enumerate(models):
        try:
            return await attempt(model), steps
        except IdeaMineError as exc:
            retry_class = classify(exc)
            refusal = _budget_refusal(exc) if degrade_on_budget else None
            last = index == len(models) - 1
            if last or (retry_class not in fallback_on and refusal is None):
                exc.fallback_steps = list(steps)  # type: ignore[attr-defined]
                if isinstance(exc, BudgetExceededError):
                    exc.model, exc.ladder_exhausted = model, last
                raise
            budget, requested = refusal or (None, None)
            steps.append(
                FallbackStep(
                    model=model,
                    retry_class=retry_class,
                    error=exc.message,
                    budget=budget,
                    requested=requested,
                )
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _budget_refusal(exc: IdeaMineError) -> tuple[str, float] | None:
    """(budget, requested) when a budget refused a call before it was made (its estimate would not
    fit), else None."""
    if isinstance(exc, BudgetExceededError) and exc.refused_before_call:
        return exc.budget, exc.requested
    return None
