"""Output models of the security phase: Secrets, SAST, Dependencies, ThreatModel and SBOM."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Severity, Strict

__all__ = [
    "Dependency",
    "DependencyReport",
    "Finding",
    "FindingsReport",
    "SASTReport",
    "SBOMReport",
    "SbomComponent",
    "SecretsReport",
    "Threat",
    "ThreatModelReport",
]


class Finding(Strict):
    """One security finding at a location; never contains a secret's value."""

    id: str = Field(min_length=1, description="Finding id, e.g. 'SEC-1', 'SAST-2'.")
    severity: Severity = Field(description="info, low, medium, high or critical.")
    title: str = Field(min_length=1, description="What was found.")
    location: str = Field(min_length=1, description="'path:line' or a component name.")
    detail: str = Field(default="", description="Why it matters and how to fix it (redacted).")


class FindingsReport(AgentOutput):
    """Base of the security reports: findings, counts per severity and a summary."""

    scanned_files: int = Field(ge=0, description="Number of files inspected.")
    findings: list[Finding] = Field(default_factory=list, description="Findings, by location.")
    counts: dict[str, int] = Field(description="Number of findings per severity (all five keys).")
    summary: str = Field(min_length=1, description="One-line summary.")
    tool: str = Field(default="", description="Scanner that produced the findings, e.g. 'bandit 1.9.4'.")
    tool_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Wall-clock seconds the scanner ran; None in stored artifacts, whose content must not "
        "depend on timing (the ledger's task entry holds it).",
    )


class SecretsReport(FindingsReport):
    """Secrets: hard-coded credentials found in the workspace."""


class SASTReport(FindingsReport):
    """SAST: dangerous code patterns (eval, exec, pickle, shell=True, ...)."""


class Dependency(Strict):
    """One third-party dependency imported by the workspace."""

    name: str = Field(min_length=1, description="Top-level import name.")
    kind: Literal["runtime", "dev"] = Field(description="Runtime or test-only.")
    files: list[str] = Field(min_length=1, description="Files importing it.")


class DependencyReport(FindingsReport):
    """Dependencies: imports that are not in the standard library."""

    dependencies: list[Dependency] = Field(default_factory=list, description="Sorted by name.")


class Threat(Strict):
    """One STRIDE threat against an asset."""

    id: str = Field(pattern=r"^THR-\d+$", description="Threat id, 'THR-1', ...")
    category: Literal[
        "spoofing",
        "tampering",
        "repudiation",
        "information_disclosure",
        "denial_of_service",
        "elevation_of_privilege",
    ] = Field(description="STRIDE category.")
    asset: str = Field(min_length=1, description="What is threatened.")
    description: str = Field(min_length=1, description="How.")
    mitigation: str = Field(min_length=1, description="Countermeasure.")


class ThreatModelReport(FindingsReport):
    """ThreatModel: STRIDE threats and findings about missing controls."""

    threats: list[Threat] = Field(default_factory=list, description="Threats, by id.")


class SbomComponent(Strict):
    """One component of the software bill of materials."""

    name: str = Field(min_length=1, description="Component name.")
    version: str = Field(min_length=1, description="Version, or 'unpinned'.")
    type: Literal["application", "library"] = Field(description="Component type.")
    purl: str = Field(min_length=1, description="Package URL.")
    scope: Literal["required", "optional"] = Field(description="'optional' for test-only.")


class SBOMReport(FindingsReport):
    """SBOM: the components the workspace is made of."""

    format: str = Field(default="CycloneDX-1.5 (subset)", description="SBOM format.")
    components: list[SbomComponent] = Field(min_length=1, description="The app, then libraries.")
    document: dict[str, Any] | None = Field(
        default=None, description="The full CycloneDX JSON document, when a real SBOM tool made it."
    )
