"""Output models of the prd phase: StoryCutter, PRDWriter, UXFlow, NFRs and TraceMatrix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ideamine_core.agents.outputs._base import Action, AgentOutput, Strict

__all__ = [
    "Flow",
    "NFR",
    "NFRSet",
    "PRDDocument",
    "Requirement",
    "StoryMap",
    "TraceMatrix",
    "TraceRow",
    "UXFlowSet",
    "UserStory",
]


class UserStory(Strict):
    """One user story with Given/When/Then acceptance criteria."""

    id: str = Field(pattern=r"^US-\d+$", description="Story id, 'US-1', ...")
    use_case_id: str = Field(min_length=1, description="The use case it implements.")
    title: str = Field(min_length=1, description="Short title.")
    as_a: str = Field(min_length=1, description="The persona or user segment.")
    i_want: str = Field(min_length=1, description="What they want to do.")
    so_that: str = Field(min_length=1, description="Why.")
    action: Action = Field(description="Kind of action (from the use case).")
    entity: str = Field(min_length=1, description="Domain entity acted on.")
    acceptance_criteria: list[str] = Field(
        min_length=1, description="'Given ..., when ..., then ...' statements."
    )
    priority: Literal["must", "should", "could"] = Field(description="MoSCoW priority.")


class StoryMap(AgentOutput):
    """StoryCutter: user stories, one or more per use case."""

    stories: list[UserStory] = Field(min_length=1, description="Stories in implementation order.")


class Requirement(Strict):
    """One functional requirement, traced to stories."""

    id: str = Field(pattern=r"^REQ-\d+$", description="Requirement id, 'REQ-1', ...")
    text: str = Field(min_length=1, description="'The system shall ...'.")
    priority: Literal["must", "should"] = Field(description="Must or should.")
    story_ids: list[str] = Field(default_factory=list, description="Stories it comes from.")


class PRDDocument(AgentOutput):
    """PRDWriter: the product requirements document."""

    title: str = Field(min_length=1, description="Product title.")
    summary: str = Field(min_length=1, description="One-paragraph summary.")
    goals: list[str] = Field(min_length=1, description="Goals of the release.")
    non_goals: list[str] = Field(default_factory=list, description="Out of scope.")
    requirements: list[Requirement] = Field(min_length=1, description="Requirements, 'REQ-1' first.")


class Flow(Strict):
    """One UX flow: the screens and steps of a use case."""

    id: str = Field(pattern=r"^FLOW-\d+$", description="Flow id, 'FLOW-1', ...")
    name: str = Field(min_length=1, description="Flow name.")
    use_case_id: str = Field(min_length=1, description="The use case it serves.")
    steps: list[str] = Field(min_length=1, description="Steps the user takes, in order.")


class UXFlowSet(AgentOutput):
    """UXFlow: one flow per use case."""

    flows: list[Flow] = Field(min_length=1, description="Flows in use-case order.")


class NFR(Strict):
    """One non-functional requirement with a measurable target."""

    id: str = Field(pattern=r"^NFR-\d+$", description="NFR id, 'NFR-1', ...")
    category: str = Field(min_length=1, description="E.g. performance, availability.")
    requirement: str = Field(min_length=1, description="The requirement.")
    metric: str = Field(min_length=1, description="How it is measured.")
    target: str = Field(min_length=1, description="The target value.")


class NFRSet(AgentOutput):
    """NFRs: non-functional requirements reflecting the constraints."""

    nfrs: list[NFR] = Field(min_length=1, description="Non-functional requirements.")


class TraceRow(Strict):
    """One row of the traceability matrix: use case → stories → requirements."""

    use_case_id: str = Field(min_length=1, description="Use case id.")
    story_ids: list[str] = Field(default_factory=list, description="Stories of the use case.")
    requirement_ids: list[str] = Field(default_factory=list, description="Their requirements.")


class TraceMatrix(AgentOutput):
    """TraceMatrix: traceability from use cases to stories to requirements."""

    rows: list[TraceRow] = Field(min_length=1, description="One row per use case.")
    uncovered_use_case_ids: list[str] = Field(
        default_factory=list, description="Use cases without any story."
    )
    coverage: float = Field(ge=0, le=1, description="Share of use cases with at least one story.")
