"""Output models of the aesthetic phase: UIReview and Accessibility."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Level, Strict

__all__ = ["A11yCheck", "AccessibilityReport", "UIIssue", "UIReviewReport"]


class UIIssue(Strict):
    """One UI/UX issue about naming, error messages or consistency."""

    id: str = Field(pattern=r"^UI-\d+$", description="Issue id, 'UI-1', ...")
    severity: Level = Field(description="low, medium or high.")
    category: Literal["naming", "error_message", "consistency", "documentation"] = Field(
        description="Kind of issue."
    )
    target: str = Field(min_length=1, description="Endpoint ('GET /tasks') or 'path:line'.")
    message: str = Field(min_length=1, description="What is wrong.")
    suggestion: str = Field(min_length=1, description="How to fix it.")


class UIReviewReport(AgentOutput):
    """UIReview: review of endpoint naming and error messages."""

    checked_endpoints: int = Field(ge=0, description="Endpoints reviewed.")
    checked_messages: int = Field(ge=0, description="Error messages reviewed.")
    issues: list[UIIssue] = Field(default_factory=list, description="Issues found.")
    summary: str = Field(min_length=1, description="One-line summary.")


class A11yCheck(Strict):
    """One accessibility check against a WCAG success criterion."""

    id: str = Field(pattern=r"^A11Y-\d+$", description="Check id, 'A11Y-1', ...")
    guideline: str = Field(min_length=1, description="WCAG 2.1 criterion, e.g. '1.4.3'.")
    description: str = Field(min_length=1, description="What is checked.")
    status: Literal["pass", "fail", "manual", "not_applicable"] = Field(description="Outcome.")
    note: str = Field(default="", description="Evidence or what to check by hand.")


class AccessibilityReport(AgentOutput):
    """Accessibility: accessibility checks."""

    checks: list[A11yCheck] = Field(min_length=1, description="Checks, by id.")
    summary: str = Field(min_length=1, description="One-line summary.")
