"""Output models of the intake phase: Classifier, Expander and Validator (IdeaSpec)."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Level, Strict

__all__ = ["Ambiguity", "Classification", "Feasibility", "IdeaExpansion", "IdeaSpec"]


class Classification(AgentOutput):
    """Classifier: what kind of product the idea is."""

    category: str = Field(min_length=1, description="Product category, e.g. 'productivity'.")
    domain_keywords: list[str] = Field(
        min_length=1, description="Keywords of the idea's domain, most relevant first."
    )
    platforms: list[str] = Field(min_length=1, description="Target platforms, primary first.")
    complexity: Level = Field(description="Rough build complexity.")


class IdeaExpansion(AgentOutput):
    """Expander: the idea spelled out as problem, users, goals and non-goals."""

    problem: str = Field(min_length=1, description="The problem the product solves, for whom.")
    target_users: list[str] = Field(min_length=1, description="User segments, primary first.")
    goals: list[str] = Field(min_length=1, description="Outcomes the first release must achieve.")
    non_goals: list[str] = Field(default_factory=list, description="Explicitly out of scope.")
    constraints: list[str] = Field(default_factory=list, description="Constraints as submitted.")


class Ambiguity(Strict):
    """How ambiguous the idea is, and which terms need a definition."""

    score: float = Field(ge=0, le=1, description="0 = precise, 1 = hopelessly vague.")
    terms: list[str] = Field(default_factory=list, description="Terms that need a definition.")


class Feasibility(Strict):
    """How feasible the first release is, and why."""

    level: Level = Field(description="Feasibility of the first release.")
    rationale: str = Field(min_length=1, description="Why this level.")
    hard_parts: list[str] = Field(default_factory=list, description="What makes it harder.")


class IdeaSpec(AgentOutput):
    """Validator: the validated idea specification every later phase builds on."""

    title: str = Field(min_length=1, description="Short product title.")
    problem: str = Field(min_length=1, description="The problem statement.")
    target_users: list[str] = Field(min_length=1, description="User segments, primary first.")
    goals: list[str] = Field(min_length=1, description="Goals of the first release.")
    constraints: list[str] = Field(default_factory=list, description="Constraints to honour.")
    non_goals: list[str] = Field(default_factory=list, description="Explicitly out of scope.")
    category: str = Field(min_length=1, description="Product category (from Classifier).")
    domain_keywords: list[str] = Field(min_length=1, description="Domain keywords (Classifier).")
    ambiguity: Ambiguity = Field(description="Ambiguity score and ambiguous terms.")
    feasibility: Feasibility = Field(description="Feasibility assessment.")
