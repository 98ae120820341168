"""The provider protocol: build an agent's raw output from its context."""

from __future__ import annotations

from typing import Any, Protocol

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext


class Provider(Protocol):
    """Anything that can produce an agent's output as JSON-like data."""

    name: str
    model: str
    version: str

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        """Return the agent's raw output (validated by the runner, not here)."""
        ...
