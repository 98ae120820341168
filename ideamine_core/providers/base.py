"""What a model call records and the hooks around it: CallRecord, CallEstimate, call hooks and guard.

Every agent call — offline or on a real provider — yields one `CallRecord` (accounting: tokens,
cost, latency, request hashes, repairs, cache hits, retries, fallback steps). The hooks let other
components act around calls without this package knowing them: a budget meter refuses a call in
`before_call` (by raising) from its estimate, and totals actual usage in `after_call`; a per-provider
circuit breaker implements `CallGuard`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.resilience.fallback_ladder import FallbackStep

if TYPE_CHECKING:
    from ideamine_core.agents.spec import AgentSpec
    from ideamine_core.domain.agent import AgentContext

__all__ = [
    "AfterCall",
    "BeforeCall",
    "CallEstimate",
    "CallGuard",
    "CallRecord",
    "FallbackStep",
    "Provider",
    "RequestRecord",
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestRecord(_Record):
    """One model request (an agent call makes several when its output is repaired)."""

    request_hash: str = Field(description="Hash of the canonical request; the response cache key.")
    provider: str
    model: str
    tokens_in: int = Field(description="Input tokens of the response (as recorded when it was made).")
    tokens_out: int
    cost_usd: float | None = Field(description="Price of those tokens; None when the model has no price.")
    latency_ms: float = Field(description="Time to get the response (a cache hit is fast).")
    cached: bool = Field(description="Served from the response cache: no upstream request, nothing paid.")
    retries: int = Field(default=0, description="Failed attempts retried before this response.")


class CallRecord(_Record):
    """Accounting of one agent call: what it cost now, how long it took, and how it got its answer.

    Tokens and cost count only requests sent upstream by this call; cache hits count zero, so summing
    records over a resumed or replayed run gives what was actually paid.
    """

    run_id: str
    phase: str
    agent: str
    iteration: int = 0
    provider: str = Field(description="Provider of the model that answered (or was tried last).")
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = Field(default=0.0, description="None when a paid request had no known price.")
    latency_ms: float = 0.0
    request_hash: str | None = Field(default=None, description="Hash of the call's first request.")
    requests: list[RequestRecord] = Field(default_factory=list)
    repair_attempts: int = Field(default=0, description="Re-asks after output that failed its schema.")
    cached: bool = Field(default=False, description="Every request was served from the response cache.")
    retries: int = 0
    fallback_steps: list[FallbackStep] = Field(default_factory=list)
    outcome: Literal["ok", "invalid_output", "failed"] = "ok"
    error: str | None = Field(default=None, description="Why the call failed (secrets scrubbed).")

    @property
    def model_id(self) -> str:
        """'provider:model' of the answering model ('offline' for the rules)."""
        return "offline" if self.provider == "offline" else f"{self.provider}:{self.model}"


class CallEstimate(_Record):
    """What a request is about to cost, handed to `before_call` before it is sent."""

    run_id: str
    phase: str
    agent: str
    provider: str
    model: str
    request_hash: str
    input_tokens: int = Field(description="Estimated from the request's size.")
    max_output_tokens: int = Field(description="The configured max_tokens, or a default bound.")
    cost_usd: float | None = Field(description="Upper-bound price of those tokens; None when unknown.")


BeforeCall = Callable[[CallEstimate], None]
"""Called before every upstream request (not for cache hits); raise to refuse the call."""

AfterCall = Callable[[CallRecord], None]
"""Called once per agent call with its record, on success and on failure."""


class CallGuard(Protocol):
    """A per-model gate consulted before each upstream attempt, e.g. a circuit breaker.

    Keyed by the model id ('openai:gpt-4.1-mini'), so a failing model never blocks the next rung of
    its ladder, even on the same provider.
    """

    def allow(self, provider: str) -> bool:
        """False to refuse calling model id `provider` now (the fallback ladder may move on)."""
        ...

    def on_success(self, provider: str) -> None:
        """An attempt to model id `provider` succeeded."""
        ...

    def on_failure(self, provider: str, exc: BaseException) -> None:
        """An attempt to model id `provider` failed with `exc` (an IdeaMine model error)."""
        ...


class Provider(Protocol):
    """An offline output generator: what the `offline` model asks for an agent's output."""

    name: str
    model: str
    version: str

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        """Return the agent's raw output (validated by the agent path, not here)."""
        ...
