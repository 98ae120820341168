"""What an agent sees when it runs: the idea, upstream artifacts and earlier outputs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.artifact import PhaseArtifact
from ideamine_core.domain.idea import IdeaSubmission


class AgentContext(BaseModel):
    """The input of one agent task."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    phase: str
    agent: str
    submission: IdeaSubmission
    upstream: dict[str, PhaseArtifact] = Field(
        default_factory=dict,
        description="Every upstream phase artifact available to this phase, by phase name.",
    )
    previous: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Outputs of agents that ran earlier in this phase (sequential/iterative).",
    )
    iteration: int = 0
    instruction: str | None = None

    def upstream_output(self, phase: str, agent: str) -> dict[str, Any] | None:
        """An upstream agent's output, or None when that phase or agent is absent."""
        artifact = self.upstream.get(phase)
        if artifact is None:
            return None
        try:
            return artifact.output_of(agent)
        except KeyError:
            return None
