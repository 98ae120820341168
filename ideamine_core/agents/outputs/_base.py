"""Base classes and shared field types of the agents' output models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["low", "medium", "high"]
"""A three-step scale for likelihood, confidence, complexity or feasibility."""

Severity = Literal["info", "low", "medium", "high", "critical"]
"""Severity of a finding or risk."""

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
"""Severities from least to most severe."""

Action = Literal[
    "create", "list", "update", "delete", "validate", "collaborate", "realtime", "offline", "other"
]
"""What a use case or story does to its entity; drives flows, tests and reviews."""


class Strict(BaseModel):
    """A strict model: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class AgentOutput(Strict):
    """Base of every agent's output: strict, with free-form notes."""

    notes: list[str] = Field(
        default_factory=list,
        description="Free-form notes, e.g. the extra instruction the agent followed.",
    )
