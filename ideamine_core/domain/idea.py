"""The idea a user submits, and its validation."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ideamine_core.workspace.injection import strip_invisible

MAX_IDEA_CHARS = 20_000


class IdeaSubmission(BaseModel):
    """What a user submits: the idea text, target users and constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idea: str = Field(description="The product idea in plain language.")
    users: list[str] = Field(default_factory=list, description="Target users, e.g. 'remote teams'.")
    constraints: list[str] = Field(default_factory=list, description="Constraints, e.g. 'mobile-first'.")

    @field_validator("idea")
    @classmethod
    def _idea_is_usable(cls, value: str) -> str:
        text = strip_invisible(value)[0].strip()  # text hidden from the reader never reaches a model
        if not text:
            raise ValueError(
                "the idea is empty; describe the product in a sentence, "
                'e.g. ideamine run "Build a collaborative todo app"'
            )
        if len(text) > MAX_IDEA_CHARS:
            raise ValueError(
                f"the idea is {len(text):,} characters, more than the {MAX_IDEA_CHARS:,} allowed; "
                "shorten it to the essentials and put details in --constraint options"
            )
        return text

    @field_validator("users", "constraints")
    @classmethod
    def _clean_items(cls, values: list[str]) -> list[str]:
        visible = (strip_invisible(v)[0].strip() for v in values)
        return [v for v in visible if v]

    def slug(self) -> str:
        """A short, filesystem-safe slug of the idea's first words."""
        words = re.findall(r"[a-z0-9]+", self.idea.lower())
        stop = {"a", "an", "the", "build", "with", "for", "and", "of", "to", "app"}
        kept = [w for w in words if w not in stop][:4] or ["idea"]
        return "-".join(kept)[:40]

    def content_hash(self) -> str:
        """A sha256 of the submission's canonical JSON."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
