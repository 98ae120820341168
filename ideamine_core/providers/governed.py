"""One model request under the rules: response cache, replay, request switch, hooks, guard, retry policy.

`GovernedModel` wraps the pydantic-ai model of one rung of one agent call (offline or hosted). For
each request the agent makes it: counts the attempt (a new request after a response means pydantic-ai
rejected that output, so past `max_attempts` it stops with ModelOutputInvalidError); hashes the
canonical request; serves it from the cache, waiting on a concurrent identical call, or — not in
replay — sends it upstream (estimate → `before_call`, request switch, guard, retry policy), persists
the response before returning it (write-ahead), and records it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from ideamine_core.errors import (
    ModelCallError,
    ModelCallRefusedError,
    ModelOutputInvalidError,
    ReplayMissError,
)
from ideamine_core.providers import pricing
from ideamine_core.providers.base import BeforeCall, CallEstimate, CallGuard, RequestRecord
from ideamine_core.providers.cache import CacheMode, CallMeta, ResponseCache, new_owner
from ideamine_core.providers.hosted import redact_url
from ideamine_core.providers.model_id import ModelRef
from ideamine_core.providers.request_gate import check_allowed
from ideamine_core.providers.request_hash import build_request, canonical_json, hash_request
from ideamine_core.providers.translate import scrub, translate
from ideamine_core.resilience.circuit_breaker import counts_as_failure
from ideamine_core.resilience.crash import crash_point
from ideamine_core.resilience.retry import RetryPolicy, retry_async

log = logging.getLogger(__name__)

_FEEDBACK_KINDS = {"retry-prompt", "retry-feedback"}


@dataclass(frozen=True)
class CallScope:
    """Which agent call a request belongs to (stored beside cached responses, never in the key)."""

    run_id: str
    phase: str
    agent: str
    iteration: int = 0


@dataclass
class Governance:
    """The rules one rung's requests follow."""

    ref: ModelRef
    scope: CallScope
    max_attempts: int
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    cache: ResponseCache | None = None
    mode: CacheMode = CacheMode.READ_WRITE
    base_url: str | None = None
    secrets: tuple[str, ...] = ()
    before_call: BeforeCall | None = None
    guard: CallGuard | None = None
    max_output_tokens: int | None = None


def dump_response(response: ModelResponse) -> str:
    """A response as JSON text (the cache's format), the endpoint's user and password removed."""
    if response.provider_url:
        response.provider_url = redact_url(response.provider_url)
    return ModelMessagesTypeAdapter.dump_json([response]).decode()


def load_response(text: str) -> ModelResponse:
    """A response back from its JSON text."""
    message = ModelMessagesTypeAdapter.validate_json(text)[0]
    assert isinstance(message, ModelResponse)
    return message


def raw_output(response: ModelResponse) -> str:
    """What the model answered, as text: tool-call arguments, else its text parts."""
    for part in response.parts:
        args = getattr(part, "args", None)
        if getattr(part, "part_kind", "") == "tool-call":
            return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, sort_keys=True)
    return "".join(getattr(p, "content", "") for p in response.parts if p.part_kind == "text")


def validation_feedback(messages: Sequence[ModelMessage]) -> str | None:
    """The validation error pydantic-ai sent back in its latest request, if any."""
    last = messages[-1] if messages else None
    if not isinstance(last, ModelRequest):
        return None
    for part in last.parts:
        retried = part.part_kind in _FEEDBACK_KINDS or getattr(part, "outcome", None) == "retried"
        if retried:
            content = getattr(part, "content", None)
            text = (
                content if isinstance(content, str) else json.dumps(content, default=str, ensure_ascii=False)
            )
            return text[:1000]
    return None


_LAST_FAILURE: dict[str, str] = {}
"""The last failure of each guarded model seen in this process, quoted when its breaker refuses a call."""


class GovernedModel(WrapperModel):
    """A pydantic-ai model whose requests go through the cache, hooks, guard and retry policy."""

    def __init__(self, wrapped: Model, rules: Governance) -> None:
        """Wrap `wrapped` (already built for `rules.ref`)."""
        super().__init__(wrapped)
        self.rules = rules
        self.records: list[RequestRecord] = []
        self.last_raw: str | None = None
        self.retries = 0
        """Failed attempts retried on this rung, including those of a request that failed in the end."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """Serve one request from the cache or the provider, recording it."""
        if len(self.records) >= self.rules.max_attempts:
            raise self.invalid_output(validation_feedback(messages))
        ref = self.rules.ref
        request = build_request(ref.provider, ref.name, messages, model_settings, model_request_parameters)
        text = canonical_json(request)
        request_hash = hash_request(request)
        started = time.perf_counter()
        response, cached, retries = await self._respond(
            request_hash, text, messages, model_settings, model_request_parameters
        )
        self._record(request_hash, response, cached, retries, started)
        return response

    async def _respond(
        self,
        request_hash: str,
        text: str,
        messages: list[ModelMessage],
        settings: ModelSettings | None,
        params: ModelRequestParameters,
    ) -> tuple[ModelResponse, bool, int]:
        rules, cache = self.rules, self.rules.cache
        if cache is None:
            response, retries = await self._send(request_hash, text, messages, settings, params)
            crash_point("llm.request_sent")
            crash_point("llm.response_cached")
            return response, False, retries
        meta = CallMeta(rules.ref.provider, rules.ref.name, rules.scope.run_id, rules.scope.agent)
        if rules.mode is CacheMode.REPLAY:
            hit = cache.get(request_hash)
            if hit is None:
                raise self._replay_miss(request_hash)
            return load_response(hit.response_text), True, 0
        owner = new_owner()
        hit = await cache.acquire(request_hash, owner, meta, text)
        if hit is not None:
            return load_response(hit.response_text), True, 0
        started = time.perf_counter()
        try:
            response, retries = await self._send(request_hash, text, messages, settings, params)
        except BaseException:
            cache.release(request_hash, owner)  # errors are never cached
            raise
        crash_point("llm.request_sent")  # paid for, not yet cached: resuming repeats this call
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        usage = response.usage
        cache.complete(
            request_hash,
            meta,
            text,
            dump_response(response),
            tokens_in=usage.input_tokens,
            tokens_out=usage.output_tokens,
            cost_usd=pricing.cost_usd(
                rules.ref.provider, rules.ref.name, usage.input_tokens, usage.output_tokens
            ),
            latency_ms=latency_ms,
        )
        crash_point("llm.response_cached")
        return response, False, retries

    async def _send(
        self,
        request_hash: str,
        text: str,
        messages: list[ModelMessage],
        settings: ModelSettings | None,
        params: ModelRequestParameters,
    ) -> tuple[ModelResponse, int]:
        """Send upstream: estimate and `before_call`, the request switch, then guarded, retried attempts."""
        rules = self.rules
        ref = rules.ref
        self._before_call(request_hash, text)
        if not ref.is_offline:
            check_allowed(ref.provider, rules.base_url)
        retries = 0

        def _on_retry(exc: BaseException, attempt: int, wait: float) -> None:
            nonlocal retries
            retries += 1
            self.retries += 1
            log.info("%s: attempt %d failed (%s); retrying in %.2fs", ref, attempt, exc, wait)

        async def _attempt() -> ModelResponse:
            return await self._attempt_once(messages, settings, params)

        response = await retry_async(_attempt, rules.policy, on_retry=_on_retry)
        return response, retries

    async def _attempt_once(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> ModelResponse:
        ref, guard = self.rules.ref, self.rules.guard
        # one breaker per model, not per provider: a failing model must not block the ladder's next
        # rung on the same provider (gpt-4.1 down → gpt-4.1-mini), nor one OpenAI-compatible server another
        name = str(ref)
        if guard is not None and not ref.is_offline and not guard.allow(name):
            last = _LAST_FAILURE.get(name)
            raise ModelCallRefusedError(
                f"calls to {name} are refused for now: its circuit breaker is open after repeated failures"
                + (f" (the last: {last})" if last else ""),
                provider=ref.provider,
                model=ref.name,
                fix="make sure the model's server is up and reachable; the breaker lets a probe call through "
                "after its reset timeout (30 s by default), so `ideamine resume RUN` then; or add another "
                "model to the ladder (YAML `models:`)",
            )
        try:
            response = await self.wrapped.request(messages, settings, params)
        except Exception as exc:
            where = redact_url(self.rules.base_url) if self.rules.base_url else None
            error = translate(exc, ref, self.rules.secrets, where)
            if guard is not None and isinstance(error, ModelCallError) and not ref.is_offline:
                if counts_as_failure(error):
                    _LAST_FAILURE[name] = error.message
                guard.on_failure(name, error)
            if error is exc:
                raise
            raise error from None
        if guard is not None and not ref.is_offline:
            guard.on_success(name)
        return response

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[StreamedResponse]:
        """Not governed (no cache, retry or accounting), so refused: agents here run non-streamed."""
        raise NotImplementedError("streamed requests bypass the cache and accounting; use Agent.run")
        yield  # pragma: no cover - makes this an async generator

    def _before_call(self, request_hash: str, text: str) -> None:
        rules = self.rules
        if rules.before_call is None:
            return
        ref = rules.ref
        tokens_in = pricing.estimate_tokens(text)
        tokens_out = rules.max_output_tokens or pricing.DEFAULT_MAX_OUTPUT_TOKENS
        estimate = CallEstimate(
            run_id=rules.scope.run_id,
            phase=rules.scope.phase,
            agent=rules.scope.agent,
            provider=ref.provider,
            model=ref.name,
            request_hash=request_hash,
            input_tokens=tokens_in,
            max_output_tokens=tokens_out,
            cost_usd=pricing.cost_usd(ref.provider, ref.name, tokens_in, tokens_out),
        )
        rules.before_call(estimate)

    def _record(
        self, request_hash: str, response: ModelResponse, cached: bool, retries: int, started: float
    ) -> None:
        ref, usage = self.rules.ref, response.usage
        self.last_raw = scrub(raw_output(response), self.rules.secrets)
        self.records.append(
            RequestRecord(
                request_hash=request_hash,
                provider=ref.provider,
                model=ref.name,
                tokens_in=usage.input_tokens,
                tokens_out=usage.output_tokens,
                cost_usd=pricing.cost_usd(ref.provider, ref.name, usage.input_tokens, usage.output_tokens),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                cached=cached,
                retries=retries,
            )
        )

    def _replay_miss(self, request_hash: str) -> ReplayMissError:
        ref, scope = self.rules.ref, self.rules.scope
        return ReplayMissError(
            f"replay: agent {scope.agent} (phase {scope.phase}) asked {ref} a request that the recorded "
            f"run never made (request {request_hash[:19]}…); replay makes no network calls",
            provider=ref.provider,
            model=ref.name,
            request_hash=request_hash,
            fix="replay with the same model, phase configs, prompts and idea as the recorded run, "
            "or run without --replay to make the missing calls",
        )

    def invalid_output(self, feedback: str | None) -> ModelOutputInvalidError:
        """The error for output that still fails its schema after every allowed attempt."""
        ref, scope = self.rules.ref, self.rules.scope
        fresh = [r for r in self.records if not r.cached]
        return ModelOutputInvalidError(
            f"agent {scope.agent} (phase {scope.phase}) on {ref} returned output that fails its schema",
            provider=ref.provider,
            model=ref.name,
            attempts=len(self.records),
            last_raw_output=self.last_raw,
            validation_error=feedback,
            tokens_in=sum(r.tokens_in for r in fresh),
            tokens_out=sum(r.tokens_out for r in fresh),
        )


def usage_of(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Tokens and cost actually paid (cache hits count zero); cost None when any price is unknown."""
    fresh = [r for r in records if not r.cached]
    costs = [r.cost_usd for r in fresh]
    return {
        "tokens_in": sum(r.tokens_in for r in fresh),
        "tokens_out": sum(r.tokens_out for r in fresh),
        "cost_usd": None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 9),
    }
