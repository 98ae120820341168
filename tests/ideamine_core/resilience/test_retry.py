"""The retry policy: classes decide attempts, statuses and headers decide retryability and waits.

408/409/429/5xx are retried, other 4xx are not; `x-should-retry` overrides the status; the wait honours
`retry-after-ms`, then `Retry-After` (seconds or HTTP date); validation and fatal errors and anything
that is not an IdeaMineError (a bug) are never retried; one policy counts the attempts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ideamine_core.errors import (
    ContextLengthExceededError,
    IdeaMineError,
    ModelHTTPError,
    ModelOutputError,
    ModelUnavailableError,
    RateLimitedError,
    RetryClass,
)
from ideamine_core.resilience.retry import (
    RetryPolicy,
    classify,
    delay_for,
    retry_after_seconds,
    retry_async,
    should_retry,
    should_retry_header,
    status_is_retryable,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _http(status: int, **kw: object) -> ModelHTTPError:
    kind = RateLimitedError if status == 429 else ModelHTTPError
    return kind("boom", provider="openai", model="m", status=status, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "should", "expected"),
    [
        (408, None, True),  # request timeout
        (409, None, True),  # conflict (e.g. a concurrent update)
        (429, None, True),  # rate limited
        (500, None, True),  # server error
        (503, None, True),  # unavailable
        (529, None, True),  # overloaded (Anthropic)
        (400, None, False),  # bad request: sending it again cannot help
        (401, None, False),  # bad credentials
        (404, None, False),  # unknown model or wrong base URL
        (400, True, True),  # the provider says x-should-retry: true
        (503, False, False),  # the provider says x-should-retry: false
    ],
)
def test_retryable_statuses(status: int, should: bool | None, expected: bool) -> None:
    assert status_is_retryable(status, should) is expected
    error = _http(status, should_retry=should)
    assert should_retry(error, 1, RetryPolicy()) is expected


@pytest.mark.parametrize(
    ("error", "retry_class"),
    [
        (_http(429), RetryClass.RATE_LIMIT),  # rate limit class
        (_http(500), RetryClass.TRANSIENT),  # server error
        (_http(401), RetryClass.FATAL),  # not retryable client error
        (ModelUnavailableError("down", provider="p", model="m"), RetryClass.TRANSIENT),  # connection
        (ContextLengthExceededError("long", provider="p", model="m"), RetryClass.FATAL),  # its own class
        (ModelOutputError("bad output"), RetryClass.VALIDATION),  # repaired by re-asking, not retried
        (IdeaMineError("user error"), RetryClass.FATAL),  # default class
        (KeyError("bug"), RetryClass.FATAL),  # programming errors are never retried
    ],
)
def test_classify(error: BaseException, retry_class: RetryClass) -> None:
    assert classify(error) is retry_class


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),  # OpenAI/Anthropic milliseconds header wins
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),  # case-insensitive, ms first
        ({"Retry-After": "2"}, 2.0),  # integer seconds
        ({"retry-after": "0.5"}, 0.5),  # fractional seconds
        ({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),  # HTTP date, 30 s ahead
        ({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, 0.0),  # a date in the past: no wait
        ({"retry-after": "soon"}, None),  # unreadable
        ({"retry-after-ms": "-5"}, None),  # negative
        ({}, None),  # absent
        (None, None),  # no headers at all
    ],
)
def test_retry_after_seconds(headers: dict[str, str] | None, seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == seconds


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-should-retry": "true"}, True),
        ({"X-Should-Retry": "False"}, False),
        ({"x-should-retry": "x"}, None),
        ({}, None),
    ],
)
def test_should_retry_header(headers: dict[str, str], expected: bool | None) -> None:
    assert should_retry_header(headers) is expected


def test_attempts_per_class_and_provider_waits_beyond_the_cap() -> None:
    policy = RetryPolicy(transient_attempts=3, rate_limit_attempts=5, max_retry_after=10)
    assert should_retry(_http(500), 2, policy) and not should_retry(_http(500), 3, policy)
    assert should_retry(_http(429), 4, policy) and not should_retry(_http(429), 5, policy)
    assert not should_retry(_http(429, retry_after=60.0), 1, policy)  # too long: let the ladder move on


def test_delay_honours_retry_after_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.3, jitter=0.0)
    assert delay_for(_http(429, retry_after=2.0), 1, policy) == 2.0
    assert [delay_for(_http(500), n, policy) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.3, 0.3]


def test_retry_async_retries_transient_errors_and_reports_each_wait() -> None:
    failures = [_http(503), _http(429, retry_after=1.5)]
    slept: list[float] = []
    waits: list[tuple[int, float]] = []

    async def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(base_delay=0.01, jitter=0.0)
    result = asyncio.run(
        retry_async(flaky, policy, on_retry=lambda e, n, s: waits.append((n, s)), sleep=fake_sleep)
    )
    assert result == "ok"
    assert slept == [0.01, 1.5] and waits == [(1, 0.01), (2, 1.5)]


def test_retry_async_gives_up_and_reraises_the_last_error() -> None:
    calls = 0

    async def always_down() -> None:
        nonlocal calls
        calls += 1
        raise _http(500)

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(ModelHTTPError) as info:
        asyncio.run(retry_async(always_down, RetryPolicy(transient_attempts=3), sleep=no_sleep))
    assert calls == 3 and info.value.status == 500


@pytest.mark.parametrize(
    "error",
    [_http(400), KeyError("a bug"), ModelOutputError("invalid")],  # fatal, programming, validation
)
def test_retry_async_never_retries_other_classes(error: BaseException) -> None:
    calls = 0

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        asyncio.run(retry_async(fails, RetryPolicy()))
    assert calls == 1
