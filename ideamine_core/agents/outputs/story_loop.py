"""Output models of the story_loop phase: StoryImplementer and StoryReviewer."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput
from ideamine_core.agents.outputs.build import SourceFile

__all__ = ["StoryImplementation", "StoryReview"]


class StoryImplementation(AgentOutput):
    """StoryImplementer: the story implemented in this iteration."""

    iteration: int = Field(ge=0, description="Loop iteration that produced this output.")
    story_id: str | None = Field(description="Story implemented now; None when none is left.")
    title: str = Field(min_length=1, description="Story title, or 'nothing left to implement'.")
    files_touched: list[str] = Field(default_factory=list, description="Files changed, sorted.")
    files: list[SourceFile] = Field(
        default_factory=list,
        description="New or changed files with their full content, written to the workspace; empty when "
        "the build already holds the story's code.",
    )
    summary: str = Field(min_length=1, description="What was done.")
    implemented_story_ids: list[str] = Field(
        default_factory=list, description="Every story implemented so far, in story order."
    )


class StoryReview(AgentOutput):
    """StoryReviewer: the review of this iteration's story and whether the loop is done."""

    iteration: int = Field(ge=0, description="Loop iteration that produced this output.")
    story_id: str | None = Field(description="Story reviewed; None when nothing was implemented.")
    approved: bool = Field(description="Whether the implementation is accepted.")
    comments: list[str] = Field(min_length=1, description="Review comments.")
    remaining_story_ids: list[str] = Field(
        default_factory=list, description="Stories not implemented yet, in story order."
    )
    done: bool = Field(description="True when every story is implemented.")
