"""Fallback ladder: try models in order, moving on only on classified errors, recording each step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import IdeaMineError, RetryClass
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


class LadderExhaustedError(IdeaMineError):
    """Raised only for an empty ladder; a failing last rung re-raises its own error."""


async def walk_ladder(
    models: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    *,
    fallback_on: Collection[RetryClass] = DEFAULT_FALLBACK_ON,
) -> tuple[T, list[FallbackStep]]:
    """Await `attempt(model)` for each model in turn until one succeeds; its result and the steps taken.

    An error whose class is in `fallback_on` is recorded as a step and the next model is tried; any
    other error, or the last rung's error, is raised with the steps so far on its `fallback_steps`.
    """
    if not models:
        raise LadderExhaustedError("no model to call: the fallback ladder is empty", fix="configure a model")
    steps: list[FallbackStep] = []
    for index, model in enumerate(models):
        try:
            return await attempt(model), steps
        except IdeaMineError as exc:
            retry_class = classify(exc)
            if retry_class not in fallback_on or index == len(models) - 1:
                exc.fallback_steps = list(steps)  # type: ignore[attr-defined]
                raise
            steps.append(FallbackStep(model=model, retry_class=retry_class, error=exc.message))
    raise AssertionError("unreachable")  # pragma: no cover
