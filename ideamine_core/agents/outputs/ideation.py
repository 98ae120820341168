"""Output models of the ideation phase: Strategy, Competitive, TechStack and Persona."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ideamine_core.agents.outputs._base import Action, AgentOutput, Strict

__all__ = [
    "CompetitiveLandscape",
    "Competitor",
    "Persona",
    "PersonaSet",
    "ProductStrategy",
    "TechStack",
    "UseCase",
]


class ProductStrategy(AgentOutput):
    """Strategy: vision, value proposition and differentiators."""

    vision: str = Field(min_length=1, description="Where the product takes its users.")
    value_proposition: str = Field(min_length=1, description="Why users pick it, in a sentence.")
    differentiators: list[str] = Field(min_length=1, description="What sets it apart.")
    objectives: list[str] = Field(default_factory=list, description="Objectives (IdeaSpec goals).")
    north_star_metric: str = Field(min_length=1, description="The one metric that shows value.")


class Competitor(Strict):
    """One competitor or substitute and the gap the product exploits."""

    name: str = Field(min_length=1, description="Competitor or substitute.")
    kind: Literal["direct", "indirect", "substitute"] = Field(description="How it competes.")
    gap: str = Field(min_length=1, description="What it does not do well for our users.")


class CompetitiveLandscape(AgentOutput):
    """Competitive: competitors and positioning."""

    competitors: list[Competitor] = Field(min_length=1, description="Competitors, direct first.")
    positioning: str = Field(min_length=1, description="Positioning statement.")


class TechStack(AgentOutput):
    """TechStack: technology choices reflecting the constraints."""

    frontend: str = Field(min_length=1, description="Client technology.")
    backend: str = Field(min_length=1, description="Server technology.")
    storage: str = Field(min_length=1, description="Storage technology.")
    realtime: str = Field(min_length=1, description="Real-time transport, or 'none'.")
    offline_sync: str = Field(min_length=1, description="Offline/sync strategy, or 'none'.")
    hosting: str = Field(min_length=1, description="Where it runs.")
    rationale: list[str] = Field(min_length=1, description="Why each choice, tied to constraints.")


class Persona(Strict):
    """One persona derived from the target users."""

    name: str = Field(min_length=1, description="Persona name, e.g. 'Alex (team lead)'.")
    segment: str = Field(min_length=1, description="The user segment it represents.")
    role: str = Field(min_length=1, description="Role within the segment.")
    goals: list[str] = Field(min_length=1, description="What the persona wants.")
    pains: list[str] = Field(min_length=1, description="What frustrates the persona today.")


class UseCase(Strict):
    """One use case: an actor persona doing one thing with one entity."""

    id: str = Field(pattern=r"^UC-\d+$", description="Use case id, 'UC-1', 'UC-2', ...")
    title: str = Field(min_length=1, description="Short title.")
    actor: str = Field(min_length=1, description="Name of the acting persona.")
    action: Action = Field(description="Kind of action.")
    entity: str = Field(min_length=1, description="Domain entity acted on, e.g. 'Task'.")
    description: str = Field(min_length=1, description="One or two sentences.")


class PersonaSet(AgentOutput):
    """Persona: 3-5 personas and the use cases they perform."""

    personas: list[Persona] = Field(min_length=3, max_length=5, description="3 to 5 personas.")
    use_cases: list[UseCase] = Field(min_length=1, description="Use cases, 'UC-1' first.")
