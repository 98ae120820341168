"""AgentSpec: an agent's name, phase, role, typed output model and offline rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from ideamine_core.domain.agent import AgentContext

OfflineRule = Callable[[AgentContext], BaseModel]


@dataclass(frozen=True)
class AgentSpec:
    """One agent: what it is for, what it returns, and how `offline` builds that output."""

    name: str
    phase: str
    role: str
    output_model: type[BaseModel]
    offline_rule: OfflineRule
    done_field: str | None = None
    """For iterative agents: name of a bool output field that signals the loop is done."""
    progress_field: str | None = None
    """For iterative agents: name of an output field counting the loop's progress (a number, or a list
    whose length is the count), reported to the loop's heartbeat after each iteration."""
