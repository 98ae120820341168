"""Output models of the release phase: ReleaseNotes, DeploymentPlan and Rollback."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = ["CanaryStage", "DeploymentPlan", "ReleaseNotes", "RollbackPlan"]


class ReleaseNotes(AgentOutput):
    """ReleaseNotes: what the release brings."""

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="Semantic version.")
    title: str = Field(min_length=1, description="Release title.")
    highlights: list[str] = Field(min_length=1, description="Highlights, from the stories.")
    stories_included: list[str] = Field(default_factory=list, description="Story ids shipped.")
    known_issues: list[str] = Field(default_factory=list, description="Known issues.")


class CanaryStage(Strict):
    """One canary stage: traffic share, duration and promotion rule."""

    traffic_percent: int = Field(ge=1, le=100, description="Share of traffic.")
    duration_minutes: int = Field(ge=0, description="How long to observe.")
    promote_if: str = Field(min_length=1, description="Condition to go to the next stage.")


class DeploymentPlan(AgentOutput):
    """DeploymentPlan: deployment steps and canary rules."""

    strategy: str = Field(min_length=1, description="Deployment strategy.")
    environments: list[str] = Field(min_length=1, description="Environments in order.")
    steps: list[str] = Field(min_length=1, description="Steps in order.")
    canary_stages: list[CanaryStage] = Field(min_length=1, description="Canary stages.")
    health_checks: list[str] = Field(min_length=1, description="Checks run at every stage.")


class RollbackPlan(AgentOutput):
    """Rollback: when and how to roll back."""

    triggers: list[str] = Field(min_length=1, description="Conditions that trigger a rollback.")
    steps: list[str] = Field(min_length=1, description="Rollback steps in order.")
    max_minutes_to_rollback: int = Field(gt=0, description="Time budget for a rollback.")
    data_notes: str = Field(min_length=1, description="What happens to data written meanwhile.")
