"""The normalized security finding every scanner maps to, and the gate's hard-blocker metrics from findings.

Severity rules (one table for all tools, so a gate threshold means the same thing whatever found it):

- detect-secrets: private keys and cloud/provider keys (AWS, Azure, GCP, Stripe, OpenAI, GitHub, ...)
  are ``critical``; keyword and high-entropy matches are ``high``. One finding per file and line.
- bandit: its severity (LOW/MEDIUM/HIGH → low/medium/high), one step down when bandit's confidence is
  LOW; code-execution sinks (eval, exec, pickle/marshal loads, yaml.load, shell=True) are at least
  ``high``, and ``critical`` when user input (``input()``, ``sys.argv``, ``sys.stdin``) flows straight
  into them; asserts in test files are dropped (pytest needs them).
- dependencies: no offline vulnerability database exists here, so dependency findings are ``info``
  (listed for the SBOM), never a vulnerability claim.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.outputs._base import SEVERITIES, Level, Severity
from ideamine_core.agents.outputs.security import Finding

__all__ = [
    "Category",
    "ScanFinding",
    "counts_by_severity",
    "hard_blocker_metrics",
    "shift",
    "to_output_findings",
]

Category = Literal["secret", "sast", "dependency", "injection"]
"""What kind of problem a finding is."""

METRICS: tuple[str, ...] = (
    "secrets_found",
    "sast_critical",
    "sast_high",
    "sast_medium",
    "sast_low",
    "vulnerable_dependencies_critical",
    "vulnerable_dependencies_high",
    "injection_signals",
)
"""The metric names `hard_blocker_metrics` always returns (phase YAML `gate.hard_blockers` keys)."""


class ScanFinding(BaseModel):
    """One finding of one tool at one place; `detail` never contains a secret's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(description="The scanner and its version, e.g. 'bandit 1.9.4'.")
    rule: str = Field(description="The tool's rule id, e.g. 'B307' or 'AWS Access Key'.")
    category: Category = Field(description="secret, sast, dependency or injection.")
    severity: Severity = Field(description="Normalized severity (see the module docstring).")
    confidence: Level | None = Field(default=None, description="The tool's confidence, when it gives one.")
    title: str = Field(min_length=1, description="What was found, one line.")
    path: str = Field(description="Workspace-relative file path ('' for a project-level finding).")
    line: int = Field(default=0, ge=0, description="1-based line, 0 when not applicable.")
    detail: str = Field(default="", description="Why it matters and how to fix it (redacted).")

    @property
    def location(self) -> str:
        """'path:line', or the path alone for a file-level finding."""
        return f"{self.path}:{self.line}" if self.line else (self.path or "(project)")

    @property
    def fingerprint(self) -> str:
        """A stable id of the finding (tool family, rule, place), for de-duplication across runs."""
        key = f"{self.tool.split()[0]}|{self.rule}|{self.path}|{self.line}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def shift(severity: Severity, steps: int) -> Severity:
    """`severity` moved `steps` along info < low < medium < high < critical (clamped)."""
    index = min(max(SEVERITIES.index(severity) + steps, 0), len(SEVERITIES) - 1)
    return SEVERITIES[index]  # type: ignore[return-value]


def counts_by_severity(findings: Iterable[ScanFinding]) -> dict[str, int]:
    """Number of findings per severity, all five keys present."""
    items = list(findings)
    return {sev: sum(1 for f in items if f.severity == sev) for sev in SEVERITIES}


def hard_blocker_metrics(findings: Iterable[ScanFinding]) -> dict[str, int]:
    """The gate metrics (see `METRICS`): e.g. {'secrets_found': 1, 'sast_critical': 1, ...}."""
    items = list(findings)
    sast = [f for f in items if f.category == "sast"]
    vulns = [f for f in items if f.category == "dependency" and f.severity != "info"]
    return {
        "secrets_found": sum(1 for f in items if f.category == "secret"),
        "sast_critical": sum(1 for f in sast if f.severity == "critical"),
        "sast_high": sum(1 for f in sast if f.severity == "high"),
        "sast_medium": sum(1 for f in sast if f.severity == "medium"),
        "sast_low": sum(1 for f in sast if f.severity == "low"),
        "vulnerable_dependencies_critical": sum(1 for f in vulns if f.severity == "critical"),
        "vulnerable_dependencies_high": sum(1 for f in vulns if f.severity == "high"),
        "injection_signals": sum(1 for f in items if f.category == "injection"),
    }


def _order(f: ScanFinding) -> tuple[str, int, int, str]:
    return (f.path, f.line, -SEVERITIES.index(f.severity), f.rule)


def to_output_findings(findings: Iterable[ScanFinding], prefix: str) -> list[Finding]:
    """The agents' `Finding` records ('SAST-1', ...), by location then severity (worst first)."""
    ordered = sorted(set(findings), key=_order)
    return [
        Finding(
            id=f"{prefix}-{i + 1}",
            severity=f.severity,
            title=f"[{f.rule}] {f.title}",  # the rule first: gate reasons shorten long titles
            location=f.location,
            detail=f"{f.detail} (found by {f.tool})".strip(),
        )
        for i, f in enumerate(ordered)
    ]
