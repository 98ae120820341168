"""Per-provider circuit breaker with state shared across processes (Redis when configured, else the database).

Closed → open after `failure_threshold` failures within `window_seconds`; while open, calls are
refused; after `reset_timeout` one probe is let through (half-open) and at most one probe per reset
timeout after that; a successful probe closes the breaker, a failed one opens it again. Only server
errors and timeouts count as failures — a 4xx (validation, auth, context length) or a 429 says
nothing about the provider's health. Every transition is atomic in the shared store, so two workers
never both get the probe. A worker re-reads the state at most every `poll_seconds` while it believes
the breaker closed, so every worker sees OPEN within one poll.

Implements the model caller's ``CallGuard`` protocol: ``allow(provider)``, ``on_success(provider)``,
``on_failure(provider, exc)``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import (
    ContextLengthExceededError,
    ModelCallRefusedError,
    ModelHTTPError,
    ModelUnavailableError,
    ServiceUnavailableError,
)
from ideamine_core.resilience.leases import Clock


class State(StrEnum):
    """Breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerPolicy(BaseModel):
    """When a breaker opens, how long it stays open, and how often workers re-read it."""

    model_config = ConfigDict(frozen=True)

    failure_threshold: int = Field(default=5, ge=1, description="Failures within the window that open it.")
    window_seconds: float = Field(default=60.0, gt=0)
    reset_timeout: float = Field(
        default=30.0, gt=0, description="Open time before a probe; one probe per this."
    )
    poll_seconds: float = Field(default=1.0, ge=0, description="How stale a worker's view of CLOSED may be.")


@dataclass(frozen=True)
class Snapshot:
    """A breaker's shared state."""

    state: State = State.CLOSED
    failures: int = 0
    window_started_at: float | None = None
    opened_at: float | None = None
    probe_started_at: float | None = None


def allow_transition(s: Snapshot, now: float, p: BreakerPolicy) -> tuple[Snapshot, bool]:
    """(new state, allowed?) for a call at `now`; grants at most one probe per reset timeout."""
    if s.state is State.CLOSED:
        return s, True
    if s.state is State.OPEN and now < (s.opened_at or 0) + p.reset_timeout:
        return s, False
    if (
        s.state is State.HALF_OPEN
        and s.probe_started_at is not None
        and now < s.probe_started_at + p.reset_timeout
    ):
        return s, False
    return replace(s, state=State.HALF_OPEN, probe_started_at=now), True


def failure_transition(s: Snapshot, now: float, p: BreakerPolicy) -> Snapshot:
    """The state after a counted failure at `now`."""
    if s.state is State.HALF_OPEN:
        return replace(s, state=State.OPEN, opened_at=now, probe_started_at=None)
    if s.state is State.OPEN:
        return s
    fresh = s.window_started_at is None or now - s.window_started_at > p.window_seconds
    failures = 1 if fresh else s.failures + 1
    window = now if fresh else s.window_started_at
    if failures >= p.failure_threshold:
        return Snapshot(State.OPEN, failures, window, now, None)
    return Snapshot(State.CLOSED, failures, window, None, None)


def success_transition(s: Snapshot) -> Snapshot:
    """The state after a success: a successful probe closes the breaker."""
    return Snapshot() if s.state is State.HALF_OPEN else s


class BreakerStorage(Protocol):
    """Shared breaker state with atomic transitions (database or Redis)."""

    def snapshot(self, name: str) -> Snapshot:
        """The current state (CLOSED when never written)."""
        ...

    def allow(self, name: str, now: float, policy: BreakerPolicy) -> tuple[Snapshot, bool]:
        """Apply `allow_transition` atomically."""
        ...

    def failure(self, name: str, now: float, policy: BreakerPolicy) -> Snapshot:
        """Apply `failure_transition` atomically."""
        ...

    def success(self, name: str, now: float) -> Snapshot:
        """Apply `success_transition` atomically."""
        ...


def counts_as_failure(exc: BaseException) -> bool:
    """True for server errors (5xx, 408) and timeouts or refused connections; False for everything a
    client caused (4xx, 429, context length, invalid output) and for our own refusals."""
    if isinstance(exc, ModelCallRefusedError | ContextLengthExceededError):
        return False
    if isinstance(exc, ModelHTTPError):
        return exc.status >= 500 or exc.status == 408
    if isinstance(exc, ModelUnavailableError | ServiceUnavailableError | TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status == 408
    return type(exc).__module__.startswith("httpx") and type(exc).__name__.endswith(("Timeout", "Error"))


class CircuitBreaker:
    """Per-provider breakers over shared storage; the model caller's CallGuard."""

    def __init__(
        self, storage: BreakerStorage, policy: BreakerPolicy | None = None, *, clock: Clock = time.time
    ) -> None:
        self.storage = storage
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self._seen: dict[str, tuple[Snapshot, float]] = {}
        self._lock = threading.Lock()

    def allow(self, provider: str) -> bool:
        """True to call `provider` now; False while its breaker is open (or another worker probes)."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(provider)
        if seen is not None and seen[0].state is State.CLOSED and now - seen[1] < self.policy.poll_seconds:
            return True
        snapshot, allowed = self.storage.allow(provider, now, self.policy)
        self._remember(provider, snapshot, now)
        return allowed

    def on_success(self, provider: str) -> None:
        """A call to `provider` succeeded (closes a half-open breaker; no write when closed)."""
        with self._lock:
            seen = self._seen.get(provider)
        if seen is None or seen[0].state is not State.CLOSED:
            now = self.clock()
            self._remember(provider, self.storage.success(provider, now), now)

    def on_failure(self, provider: str, exc: BaseException) -> None:
        """A call to `provider` failed; counted only for server errors and timeouts."""
        if counts_as_failure(exc):
            now = self.clock()
            self._remember(provider, self.storage.failure(provider, now, self.policy), now)

    def state(self, provider: str) -> State:
        """The shared state now (read from the store)."""
        return self.storage.snapshot(provider).state

    def known_state(self, provider: str) -> State | None:
        """This worker's last view of the state (no read), None before its first call."""
        with self._lock:
            seen = self._seen.get(provider)
        return seen[0].state if seen is not None else None

    def _remember(self, provider: str, snapshot: Snapshot, now: float) -> None:
        with self._lock:
            self._seen[provider] = (snapshot, now)
