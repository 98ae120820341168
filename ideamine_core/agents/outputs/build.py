"""Output models of the build phase: Scaffolder, Implementer and TestWriter."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = [
    "GeneratedTestSuite",
    "Implementation",
    "PlannedFile",
    "RelPath",
    "ScaffoldPlan",
    "SourceFile",
]


def _relative_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or not value.strip():
        raise ValueError(f"{value!r} must be a relative path inside the workspace")
    return value


RelPath = Annotated[str, AfterValidator(_relative_path)]
"""A relative path that stays inside the workspace."""


class PlannedFile(Strict):
    """One file the scaffold plans, with its purpose."""

    path: RelPath = Field(description="Relative path inside the workspace.")
    purpose: str = Field(min_length=1, description="What the file is for.")


class ScaffoldPlan(AgentOutput):
    """Scaffolder: project name, package and planned files."""

    project_name: str = Field(min_length=1, description="Project (distribution) name.")
    package: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="Python package name.")
    files: list[PlannedFile] = Field(min_length=1, description="Planned files, sorted by path.")
    test_command: str = Field(min_length=1, description="Command that runs the tests.")


class SourceFile(Strict):
    """One generated file with its full content."""

    path: RelPath = Field(description="Relative path inside the workspace.")
    content: str = Field(description="Full file content.")


class Implementation(AgentOutput):
    """Implementer: the generated source files."""

    package: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="Python package name.")
    files: list[SourceFile] = Field(min_length=1, description="Generated files, sorted by path.")
    entry_point: str = Field(min_length=1, description="Command that starts the API.")


class GeneratedTestSuite(AgentOutput):
    """TestWriter: pytest files derived from the acceptance criteria."""

    framework: str = Field(default="pytest", description="Test framework.")
    files: list[SourceFile] = Field(min_length=1, description="Test files, sorted by path.")
    covered_story_ids: list[str] = Field(default_factory=list, description="Stories with at least one test.")
