"""Provider failures (pydantic-ai, SDK, transport) → IdeaMine's typed model errors, secrets scrubbed.

The typed error says whether to retry (its retry class), how long the provider asked to wait, and how
to fix it. The provider's own exception is not chained (its text may echo credentials); its useful
parts — status, error body, retry headers — are copied, scrubbed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pydantic_ai.exceptions as pai

from ideamine_core.errors import (
    ContextLengthExceededError,
    ModelCallError,
    ModelHTTPError,
    ModelUnavailableError,
    RateLimitedError,
)
from ideamine_core.providers.model_id import API_KEY_ENV, ModelRef
from ideamine_core.resilience.retry import retry_after_seconds, should_retry_header

MAX_BODY = 300
"""Characters of a provider's error body kept in a message."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _body(body: Any) -> str:
    if body is None:
        return ""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1] + "…"


def _fix_for_status(ref: ModelRef, status: int) -> str | None:
    env = API_KEY_ENV.get(ref.provider, "the API key variable")
    if status in (401, 403):
        return f"check {env}: the provider rejected the credentials or their access to {ref.name!r}"
    if status == 404:
        return f"check the model name {ref.name!r} and the base URL (IDEAMINE_MODEL_BASE_URL)"
    if status == 429:
        return "wait, lower the parallelism, or add a fallback model to the phase's `models` ladder"
    if status >= 500:
        return "retry later or add a fallback model to the phase's `models` ladder"
    return None


def _http_error(exc: pai.ModelHTTPError, ref: ModelRef, secrets: Iterable[str]) -> ModelCallError:
    status = exc.status_code
    message = scrub(f"{ref} answered HTTP {status}: {_body(exc.body)}".rstrip(": "), secrets)
    headers = exc.headers
    retry_after = retry_after_seconds(headers)
    retry_after = exc.retry_after if retry_after is None else retry_after
    kind = RateLimitedError if status == 429 else ModelHTTPError
    return kind(
        message,
        provider=ref.provider,
        model=ref.name,
        status=status,
        fix=_fix_for_status(ref, status),
        retry_after=retry_after,
        should_retry=should_retry_header(headers),
    )


_LIMIT = (
    re.compile(r"maximum context length is (\d+)"),  # OpenAI and compatible servers
    re.compile(r"\d+ tokens > (\d+) maximum"),  # Anthropic: "prompt is too long: 208310 tokens > 200000 …"
    re.compile(r"context (?:window|length) of (\d+)"),
)
_USED = (
    re.compile(r"resulted in (\d+) tokens"),  # OpenAI: "However, your messages resulted in 9120 tokens"
    re.compile(r"(\d+) tokens > \d+ maximum"),  # Anthropic
    re.compile(r"requested (\d+) tokens"),
)


def context_limits(text: str) -> tuple[int | None, int | None]:
    """(the context window, the request's size) in tokens, as far as a context-length error says them."""

    def first(patterns: tuple[re.Pattern[str], ...]) -> int | None:
        found = (p.search(text) for p in patterns)
        return next((int(m.group(1)) for m in found if m), None)

    return first(_LIMIT), first(_USED)


def translate(
    exc: BaseException, ref: ModelRef, secrets: Iterable[str] = (), where: str | None = None
) -> BaseException:
    """The IdeaMine error for a provider failure; other exceptions (bugs) are returned unchanged.

    `where` (the server's URL, password hidden) is named when the server could not be reached.
    """
    secrets = list(secrets)
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, pai.ModelContextWindowExceededError):
        detail = scrub(f"{ref}: the input exceeds the model's context window ({_body(exc.body)})", secrets)
        fix = "split the input into chunks, or use a model with a larger context window"
        body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, default=str)
        limit, used = context_limits(f"{exc.message} {body}")
        return ContextLengthExceededError(
            detail, provider=ref.provider, model=ref.name, fix=fix, limit_tokens=limit, prompt_tokens=used
        )
    if isinstance(exc, pai.ModelHTTPError):
        return _http_error(exc, ref, secrets)
    if isinstance(exc, pai.ModelRateLimitError):
        message = scrub(f"{ref} is rate limited: {exc.message.rstrip('. ')}", secrets)
        return RateLimitedError(
            message, provider=ref.provider, model=ref.name, status=429, retry_after=exc.retry_after
        )
    if isinstance(exc, pai.ModelRequestRejectedError | pai.ModelQuotaExceededError | pai.ContentFilterError):
        status = 402 if isinstance(exc, pai.ModelQuotaExceededError) else 400
        message = scrub(f"{ref} rejected the request: {exc.message.rstrip('. ')}", secrets)
        return ModelHTTPError(message, provider=ref.provider, model=ref.name, status=status)
    if isinstance(exc, pai.UnexpectedModelBehavior):
        message = scrub(f"{ref} sent a response that could not be read: {exc.message.rstrip('. ')}", secrets)
        return ModelUnavailableError(message, provider=ref.provider, model=ref.name)
    if isinstance(exc, pai.ModelAPIError | TimeoutError | ConnectionError):
        what = exc.message if isinstance(exc, pai.ModelAPIError) else (str(exc) or type(exc).__name__)
        what = what.rstrip(". ")
        at = f" at {where}" if where else ""
        return ModelUnavailableError(
            scrub(f"{ref}{at} could not be reached or did not answer: {what}", secrets),
            provider=ref.provider,
            model=ref.name,
            fix="check that the model server is running and reachable, or add a fallback model",
            retry_after=getattr(exc, "retry_after", None),
        )
    return exc
