"""Output models of the beta phase: BetaPlanner and FeedbackSynth."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = ["BetaPlan", "Cohort", "FeedbackChannel", "FeedbackPlan"]


class Cohort(Strict):
    """One beta cohort, recruited from a persona."""

    name: str = Field(min_length=1, description="Cohort name.")
    persona: str = Field(min_length=1, description="Persona it represents.")
    size: int = Field(ge=1, description="Number of participants.")
    selection: str = Field(min_length=1, description="How participants are chosen.")


class BetaPlan(AgentOutput):
    """BetaPlanner: cohorts, duration and success metrics."""

    duration_weeks: int = Field(ge=1, description="Length of the beta.")
    cohorts: list[Cohort] = Field(min_length=1, description="Cohorts, one per persona.")
    success_metrics: list[str] = Field(min_length=1, description="Metrics with targets.")
    exit_criteria: list[str] = Field(min_length=1, description="When the beta ends.")


class FeedbackChannel(Strict):
    """One way feedback comes in."""

    name: str = Field(min_length=1, description="Channel name.")
    cadence: str = Field(min_length=1, description="How often it is read.")
    purpose: str = Field(min_length=1, description="What it is good for.")


class FeedbackPlan(AgentOutput):
    """FeedbackSynth: feedback channels and the synthesis plan."""

    channels: list[FeedbackChannel] = Field(min_length=1, description="Feedback channels.")
    synthesis_steps: list[str] = Field(min_length=1, description="How feedback becomes decisions.")
    tags: list[str] = Field(default_factory=list, description="Tags to file feedback under.")
    review_cadence: str = Field(min_length=1, description="When the team reviews the synthesis.")
