"""The `offline` model: deterministic rule-based outputs as a pydantic-ai FunctionModel, no network.

The rules (`agents/rules/*`) build each agent's typed output from the idea and upstream artifacts; the
FunctionModel returns it as the output tool call, so offline runs go through the same agent,
validation and accounting path as real providers. Labelled `offline` in provenance.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.providers.base import Provider
from ideamine_core.providers.model_id import OFFLINE_MODEL

OFFLINE_VERSION = "offline-rules/1"


class OfflineProvider:
    """Builds each agent's typed output from the idea and upstream artifacts by rules.

    `latency_seconds` simulates a model's response time (benchmarks only); it never changes output.
    """

    name = "offline"
    model = OFFLINE_MODEL
    version = OFFLINE_VERSION

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        """Apply the agent's offline rule."""
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)
        return spec.offline_rule(ctx).model_dump(mode="json")


def offline_model(generator: Provider, spec: AgentSpec, ctx: AgentContext) -> FunctionModel:
    """A FunctionModel answering every request with `generator`'s output for this agent and context."""

    def answer(_messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        output = generator.generate(spec, ctx)
        if not info.output_tools:  # text output requested: answer with the JSON itself
            return ModelResponse(parts=[TextPart(content=_json(output))], model_name=OFFLINE_MODEL)
        args = output if isinstance(output, dict) else _json(output)  # a non-object fails validation
        part = ToolCallPart(tool_name=info.output_tools[0].name, args=args, tool_call_id="offline_output")
        return ModelResponse(parts=[part], model_name=OFFLINE_MODEL)

    return FunctionModel(answer, model_name=OFFLINE_MODEL)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
