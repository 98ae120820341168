"""ModelCaller: run one agent on its model ladder through pydantic-ai, with repair, cache and accounting.

The single path for every agent call, offline and real: render the agent's prompt, build a pydantic-ai
`Agent(output_type=spec.output_model)` on each rung's `GovernedModel` (the `offline` rung is a
FunctionModel driven by the rules), let pydantic-ai re-ask with the validation error until the output
validates or the attempts run out, walk the fallback ladder on classified errors, and return the
validated output with its `CallRecord` (also passed to `after_call`, on failure too).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic_ai.exceptions as pai
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai import Agent

from ideamine_core.agents.prompting import Prompt, render_prompt
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.errors import IdeaMineError, ModelConfigError, ModelOutputInvalidError, RetryClass
from ideamine_core.providers.base import AfterCall, BeforeCall, CallGuard, CallRecord, Provider, RequestRecord
from ideamine_core.providers.cache import CacheMode, ResponseCache
from ideamine_core.providers.governed import CallScope, Governance, GovernedModel, usage_of
from ideamine_core.providers.hosted import open_model, resolve_endpoint
from ideamine_core.providers.model_id import ModelRef, parse_ladder, parse_model_id
from ideamine_core.providers.offline import OfflineProvider, offline_model
from ideamine_core.resilience.fallback_ladder import DEFAULT_FALLBACK_ON, FallbackStep, walk_ladder
from ideamine_core.resilience.retry import RetryPolicy

T = TypeVar("T")

CACHE_MODE_ENV = "IDEAMINE_CACHE_MODE"
"""read_write (default), replay (every call from the cache, a miss is an error) or off."""


class CallerConfig(BaseModel):
    """How agents call models: the default ladder, cache mode, repair, retry and output limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[str, ...] = Field(default=("offline",), description="Default fallback ladder.")
    cache_mode: CacheMode = CacheMode.READ_WRITE
    repair_attempts: int = Field(default=3, ge=1, description="Attempts per rung until output validates.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    fallback_on: frozenset[RetryClass] = DEFAULT_FALLBACK_ON
    request_timeout: float = Field(default=300.0, gt=0, description="Seconds per upstream attempt.")
    max_output_tokens: int | None = Field(default=None, ge=1, description="Sent as max_tokens when set.")
    model_settings: dict[str, Any] = Field(default_factory=dict, description="e.g. temperature, seed.")
    openai_base_url: str | None = Field(default=None, description="OpenAI-compatible server base URL.")
    prompt_dirs: tuple[Path, ...] = Field(default=(), description="Folders searched for prompt overrides.")


@dataclass(frozen=True)
class AgentCall:
    """A successful agent call: validated output (JSON), the model that gave it, prompt and record."""

    output: dict[str, Any]
    model: ModelRef
    prompt: Prompt
    record: CallRecord


class ModelCaller:
    """Calls agents on models; thread-safe, one instance per process or per step is fine."""

    def __init__(
        self,
        config: CallerConfig | None = None,
        *,
        cache: ResponseCache | None = None,
        offline: Provider | None = None,
        before_call: BeforeCall | None = None,
        after_call: AfterCall | None = None,
        guard: CallGuard | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`cache` is required for replay; `offline` makes the offline model's outputs (rules by default)."""
        self.config = config or CallerConfig()
        self.cache = cache
        self.offline: Provider = offline or OfflineProvider()
        self.before_call, self.after_call, self.guard = before_call, after_call, guard
        self.env = env
        if self.config.cache_mode is CacheMode.REPLAY and cache is None:
            raise ValueError("replay needs a response cache (pass cache=ResponseCache(db))")

    def ladder(self, models: Sequence[str] | None = None) -> list[ModelRef]:
        """The parsed ladder for a call: `models` if given and not empty, else the default."""
        chosen = [m for m in (models or ()) if m.strip()] or list(self.config.models)
        return list(dict.fromkeys(r for m in chosen for r in parse_ladder(m)))

    def call(
        self,
        spec: AgentSpec,
        ctx: AgentContext,
        *,
        models: Sequence[str] | None = None,
        template: str | None = None,
    ) -> AgentCall:
        """Run agent `spec` on `ctx` (blocking); raises typed IdeaMine errors carrying `call_record`."""
        return run_coroutine(self.acall(spec, ctx, models=models, template=template))

    async def acall(
        self,
        spec: AgentSpec,
        ctx: AgentContext,
        *,
        models: Sequence[str] | None = None,
        template: str | None = None,
    ) -> AgentCall:
        """Async form of `call`."""
        refs = self.ladder(models)
        prompt = render_prompt(spec, ctx, template, self.config.prompt_dirs)
        scope = CallScope(ctx.run_id, ctx.phase, ctx.agent, ctx.iteration)
        rungs: list[GovernedModel] = []
        started = time.perf_counter()

        async def attempt(model_id: str) -> tuple[dict[str, Any], ModelRef]:
            ref = parse_model_id(model_id)
            return await self._on_rung(ref, spec, prompt, scope, ctx, rungs), ref

        try:
            (output, ref), steps = await walk_ladder(
                [str(r) for r in refs], attempt, fallback_on=self.config.fallback_on
            )
        except IdeaMineError as exc:
            record = self._record(scope, rungs, started, getattr(exc, "fallback_steps", []), exc)
            exc.call_record = record  # type: ignore[attr-defined]
            self._after(record)
            raise
        record = self._record(scope, rungs, started, steps, None)
        self._after(record)
        return AgentCall(output=output, model=ref, prompt=prompt, record=record)

    async def _on_rung(
        self,
        ref: ModelRef,
        spec: AgentSpec,
        prompt: Prompt,
        scope: CallScope,
        ctx: AgentContext,
        rungs: list[GovernedModel],
    ) -> dict[str, Any]:
        config = self.config
        if ref.is_offline:
            rules = Governance(
                ref=ref, scope=scope, max_attempts=1, policy=config.retry, before_call=self.before_call
            )
            governed = GovernedModel(offline_model(self.offline, spec, ctx), rules)
            rungs.append(governed)
            return await _run_agent(governed, spec, prompt, None)
        replay = config.cache_mode is CacheMode.REPLAY
        endpoint = resolve_endpoint(
            ref, openai_base_url=config.openai_base_url, env=self.env, require_key=not replay
        )
        rules = Governance(
            ref=ref,
            scope=scope,
            max_attempts=config.repair_attempts,
            policy=config.retry,
            cache=None if config.cache_mode is CacheMode.OFF else self.cache,
            mode=config.cache_mode,
            base_url=endpoint.base_url,
            secrets=endpoint.secrets,
            before_call=self.before_call,
            guard=self.guard,
            max_output_tokens=config.max_output_tokens,
        )
        async with open_model(ref, endpoint, timeout=config.request_timeout) as model:
            governed = GovernedModel(model, rules)
            rungs.append(governed)
            return await _run_agent(governed, spec, prompt, self._settings())

    def _settings(self) -> dict[str, Any]:
        settings = dict(self.config.model_settings)
        if self.config.max_output_tokens:
            settings["max_tokens"] = self.config.max_output_tokens
        settings["timeout"] = self.config.request_timeout
        return settings

    def _record(
        self,
        scope: CallScope,
        rungs: Sequence[GovernedModel],
        started: float,
        steps: Sequence[FallbackStep],
        error: IdeaMineError | None,
    ) -> CallRecord:
        requests: list[RequestRecord] = [r for g in rungs for r in g.records]
        last = rungs[-1] if rungs else None
        answering = last.records if last else []
        outcome = (
            "ok"
            if error is None
            else "invalid_output"
            if isinstance(error, ModelOutputInvalidError)
            else "failed"
        )
        return CallRecord(
            run_id=scope.run_id,
            phase=scope.phase,
            agent=scope.agent,
            iteration=scope.iteration,
            provider=last.rules.ref.provider if last else "none",
            model=last.rules.ref.name if last else "none",
            **usage_of(requests),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            request_hash=answering[0].request_hash if answering else None,
            requests=requests,
            repair_attempts=max(0, len(answering) - 1),
            cached=bool(requests) and all(r.cached for r in requests),
            retries=sum(g.retries for g in rungs),
            fallback_steps=list(steps),
            outcome=outcome,
            error=None if error is None else error.message,
        )

    def _after(self, record: CallRecord) -> None:
        if self.after_call is not None:
            self.after_call(record)


async def _run_agent(
    governed: GovernedModel, spec: AgentSpec, prompt: Prompt, settings: dict[str, Any] | None
) -> dict[str, Any]:
    """One pydantic-ai agent run on one rung; the validated output as JSON."""
    agent = Agent(
        governed,
        output_type=spec.output_model,
        instructions=prompt.instructions,
        retries={"tools": 0, "output": governed.rules.max_attempts},
        model_settings=settings,  # type: ignore[arg-type]
        name=spec.name,
    )
    try:
        result = await agent.run(prompt.user)
    except pai.UnexpectedModelBehavior as exc:  # pydantic-ai gave up on the output before we did
        raise governed.invalid_output(exc.message) from None
    return result.output.model_dump(mode="json")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` from sync code on a fresh event loop (in a helper thread if a loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def _target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    thread = threading.Thread(target=_target, name="ideamine-model-call")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def cache_mode_from_env(env: Mapping[str, str] | None = None) -> CacheMode:
    """IDEAMINE_CACHE_MODE as a CacheMode (read_write when unset)."""
    raw = ((env if env is not None else os.environ).get(CACHE_MODE_ENV) or "").strip().lower()
    try:
        return CacheMode(raw) if raw else CacheMode.READ_WRITE
    except ValueError:
        choices = ", ".join(m.value for m in CacheMode)
        raise ModelConfigError(
            f"{CACHE_MODE_ENV}={raw!r} is not a cache mode", fix=f"use one of {choices}"
        ) from None
