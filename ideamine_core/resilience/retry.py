"""Retry policy per error class (transient, rate-limit, validation, fatal), run on tenacity.

One policy is in charge: provider SDK retries are disabled (their clients get ``max_retries=0``) and
every failed attempt comes here. Transient errors (408/409/5xx, dropped connections, timeouts) back
off exponentially with jitter; rate limits wait at least what the provider asked for
(``retry-after-ms``, ``Retry-After``); validation errors are repaired by re-asking the model (the
agent's business, not a blind retry); fatal errors and anything that is not an ``IdeaMineError``
(programming errors) are never retried. An error may carry ``non_retryable`` (``x-should-retry:
false``, a refused call) to stop at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, RetryCallState, stop_never

from ideamine_core.errors import IdeaMineError, RetryClass

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Client-side statuses worth retrying; every 5xx is retryable too."""

OnRetry = Callable[[BaseException, int, float], None]
"""Called before each wait with (the error, the attempt that failed, seconds to wait)."""


class RetryPolicy(BaseModel):
    """How many attempts each error class gets and how long to wait between them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transient_attempts: int = Field(default=4, ge=1, description="Attempts for transient errors.")
    rate_limit_attempts: int = Field(default=6, ge=1, description="Attempts for rate-limit errors.")
    base_delay: float = Field(default=0.5, ge=0, description="First backoff delay, in seconds.")
    max_delay: float = Field(default=30.0, ge=0, description="Longest backoff delay, in seconds.")
    jitter: float = Field(default=0.25, ge=0, le=1, description="Random extra delay, as a share of it.")
    max_retry_after: float = Field(
        default=120.0,
        ge=0,
        description="A provider asking to wait longer than this is not retried (the ladder moves on).",
    )

    def attempts_for(self, retry_class: RetryClass) -> int:
        """Total attempts (first try included) allowed for errors of `retry_class`."""
        if retry_class is RetryClass.TRANSIENT:
            return self.transient_attempts
        if retry_class is RetryClass.RATE_LIMIT:
            return self.rate_limit_attempts
        return 1


def classify(exc: BaseException) -> RetryClass:
    """The retry class of an error; anything that is not an IdeaMineError is fatal (a bug)."""
    if isinstance(exc, IdeaMineError):
        return exc.retry_class
    return RetryClass.FATAL


def status_is_retryable(status: int, should_retry: bool | None = None) -> bool:
    """408/409/429/5xx are retryable, other 4xx are not; an explicit `x-should-retry` wins."""
    if should_retry is not None:
        return should_retry
    return status in RETRYABLE_STATUSES or status >= 500


def should_retry_header(headers: Mapping[str, str] | None) -> bool | None:
    """The `x-should-retry` response header as a bool, or None when absent or unreadable."""
    if not headers:
        return None
    value = {k.lower(): v for k, v in headers.items()}.get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds the provider asked to wait: `retry-after-ms`, else `Retry-After` (seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    if (ms := _number(lowered.get("retry-after-ms"))) is not None:
        return ms / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    if (seconds := _number(raw)) is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _number(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value < float("inf") else None


def should_retry(exc: BaseException, attempt: int, policy: RetryPolicy) -> bool:
    """True when `exc`, raised by attempt number `attempt` (1-based), deserves another attempt."""
    if getattr(exc, "non_retryable", False):
        return False
    if attempt >= policy.attempts_for(classify(exc)):
        return False
    retry_after = getattr(exc, "retry_after", None)
    return retry_after is None or retry_after <= policy.max_retry_after


def delay_for(exc: BaseException, attempt: int, policy: RetryPolicy) -> float:
    """Seconds to wait after failed attempt `attempt`: what the provider asked (plus a little jitter),
    else exponential backoff with jitter."""
    spread = random.random() * policy.jitter  # noqa: S311 - jitter, not cryptography
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return retry_after + spread * policy.base_delay
    return min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)) * (1 + spread)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await `fn()` until it succeeds or the policy gives up; the last error is re-raised as is."""

    def _retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return exc is not None and should_retry(exc, state.attempt_number, policy)

    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None  # only called after a failed attempt that will be retried
        seconds = delay_for(exc, state.attempt_number, policy)
        if on_retry is not None:
            on_retry(exc, state.attempt_number, seconds)
        return seconds

    retrying = AsyncRetrying(retry=_retry, wait=_wait, stop=stop_never, reraise=True, sleep=sleep)
    return await retrying(fn)
