"""The `offline` provider: deterministic rule-based outputs, no network, labelled offline."""

from __future__ import annotations

import time
from typing import Any

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext

OFFLINE_VERSION = "offline-rules/1"


class OfflineProvider:
    """Builds each agent's typed output from the idea and upstream artifacts by rules.

    `latency_seconds` simulates a model's response time (benchmarks only); it never changes output.
    """

    name = "offline"
    model = "offline-rules"
    version = OFFLINE_VERSION

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        """Apply the agent's offline rule."""
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)
        return spec.offline_rule(ctx).model_dump(mode="json")
