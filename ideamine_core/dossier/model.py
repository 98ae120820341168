"""The release dossier's schema: the Dossier model, its sections, and the inputs it is compiled from.

The schema is versioned (`Dossier.schema_version`); the JSON form of `Dossier` is what the
`release_dossiers` table stores. Every figure that comes from another component (costs, ledger head,
workspace, QA report, scanners, waivers) is an explicit optional input: `None` means "not supplied"
and is listed as a missing artifact, never shown as zero.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ideamine_core.agents.outputs._base import Severity
from ideamine_core.agents.outputs.aesthetic import AccessibilityReport, UIReviewReport
from ideamine_core.agents.outputs.architecture import APIDesign
from ideamine_core.agents.outputs.prd import PRDDocument, StoryMap, TraceMatrix
from ideamine_core.agents.outputs.qa import CoveragePlan, PerformanceBudgets, QATestPlan
from ideamine_core.agents.outputs.release import DeploymentPlan, ReleaseNotes, RollbackPlan
from ideamine_core.agents.outputs.security import Dependency, Finding, SBOMReport, Threat
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.ledger.chain import Anchor

DOSSIER_SCHEMA_VERSION = 1
"""Bumped whenever a field of `Dossier` changes meaning or is removed."""

Section = Literal["product", "code", "security", "quality", "deployment", "audit"]
"""The dossier's sections, in display order."""

PhaseStatus = Literal["passed", "failed", "escalated", "error", "running", "not_started", "not_selected"]
"""A phase's state; `escalated` waits for a person, `not_selected` was left out of a partial run."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- inputs supplied by other components -------------------------------------------------------


class PhaseCost(_Strict):
    """Spend of one phase, summed from the ledger's `cost` entries."""

    cost_usd: float = Field(ge=0, description="Total cost in USD.")
    tokens_in: int = Field(default=0, ge=0, description="Prompt tokens.")
    tokens_out: int = Field(default=0, ge=0, description="Completion tokens.")
    calls: int = Field(default=0, ge=0, description="Model calls made (cache hits excluded).")


class GateAttemptSummary(_Strict):
    """One gate evaluation of a phase."""

    attempt: int = Field(ge=1, description="1 for the first evaluation.")
    score: float = Field(description="Gate score.")
    threshold: float = Field(description="Pass threshold in force.")
    passed: bool = Field(description="Whether this attempt passed.")
    reasons: list[str] = Field(default_factory=list, description="'code: item' of each failure reason.")
    at: float | None = Field(default=None, description="When it was evaluated (epoch seconds).")


class WaiverApplied(_Strict):
    """A waiver that let a named gate violation pass."""

    phase: str = Field(description="Phase whose gate it applied to.")
    violation: str = Field(description="The violation it waived, e.g. 'coverage_below_target'.")
    owner: str = Field(description="Who granted it.")
    reason: str = Field(description="Why it was granted.")
    expires_at: float = Field(description="Expiry (epoch seconds).")


class WorkspaceInfo(_Strict):
    """The generated code workspace: where it is and which commit the release is."""

    path: str = Field(min_length=1, description="Workspace folder.")
    commit_sha: str = Field(pattern=r"^[0-9a-f]{7,64}$", description="Commit of the release.")
    branch: str | None = Field(default=None, description="Branch name.")
    files: int | None = Field(default=None, ge=0, description="Tracked files at that commit.")


class QAReport(_Strict):
    """What QA measured by running the generated tests in the sandbox."""

    tests_run: int = Field(ge=0, description="Tests executed.")
    passed: int = Field(ge=0, description="Tests passed.")
    failed: int = Field(ge=0, description="Tests failed.")
    errors: int = Field(default=0, ge=0, description="Tests that errored.")
    skipped: int = Field(default=0, ge=0, description="Tests skipped.")
    coverage_percent: float | None = Field(default=None, ge=0, le=100, description="Line coverage.")
    duration_seconds: float | None = Field(default=None, ge=0, description="Wall-clock of the test run.")
    command: str | None = Field(default=None, description="Command that ran the tests.")


class ScannerFinding(_Strict):
    """One finding of a real scanner (bandit, detect-secrets, …); never holds a secret's value."""

    tool: str = Field(min_length=1, description="Scanner name.")
    rule_id: str = Field(min_length=1, description="Scanner rule, e.g. 'B602'.")
    severity: Severity = Field(description="Normalised severity.")
    location: str = Field(min_length=1, description="'path:line'.")
    message: str = Field(default="", description="What was found (redacted).")


class ScannerReport(_Strict):
    """Results of the real scanners run on the workspace."""

    tools: list[str] = Field(min_length=1, description="Scanners run, with versions.")
    findings: list[ScannerFinding] = Field(default_factory=list, description="Findings, by location.")


class DossierInputs(_Strict):
    """Optional inputs from the ledger, metrics, workspace, QA and scanner components."""

    model: str | None = Field(default=None, description="'provider:model' the run used (else provenance).")
    phase_costs: dict[str, PhaseCost] | None = Field(default=None, description="Phase → cost.")
    gate_history: dict[str, list[GateAttemptSummary]] | None = Field(
        default=None, description="Phase → attempts (else the run folder's evidence packs)."
    )
    waivers: list[WaiverApplied] | None = Field(default=None, description="Waivers applied in the run.")
    ledger_head: Anchor | None = Field(
        default=None, description="Signed head of the ledger (`Ledger.sign_head` / `latest_anchor`)."
    )
    workspace: WorkspaceInfo | None = Field(default=None, description="Workspace path and commit.")
    qa_report: QAReport | None = Field(default=None, description="Measured test results and coverage.")
    scanners: ScannerReport | None = Field(default=None, description="Real scanners' findings.")


# ---- the dossier ---------------------------------------------------------------------------------


class ArtifactStatus(_Strict):
    """One expected artifact: present, or missing and why."""

    key: str = Field(description="Stable key, e.g. 'product.openapi'.")
    section: Section = Field(description="Section it belongs to.")
    title: str = Field(description="Human name.")
    source: str = Field(description="'phase/Agent[,Agent]' or 'input:<name>'.")
    present: bool = Field(description="True when the artifact is in the dossier.")
    content_hash: str | None = Field(default=None, description="Output hash of the source, if any.")
    reason: str | None = Field(default=None, description="Why it is missing (None when present).")


class PhaseSummary(_Strict):
    """One phase of the run: status, gate, attempts, cost and timing."""

    phase: str
    status: PhaseStatus
    started_at: float | None = None
    finished_at: float | None = None
    duration_seconds: float | None = None
    gate_score: float | None = None
    threshold: float | None = None
    attempts: int = 0
    gate_history: list[GateAttemptSummary] = Field(default_factory=list)
    cost: PhaseCost | None = Field(default=None, description="None when costs were not supplied.")
    artifact_hash: str | None = None
    detail: str = ""


class RunSummary(_Strict):
    """The run at a glance: idea, ids, model, phases, waivers and totals."""

    run_id: str
    submission: IdeaSubmission
    created_at: float
    models: list[str] = Field(description="'provider:model' used, from the input or provenance.")
    status: Literal["passed", "failed", "escalated", "running", "incomplete"]
    phases: list[PhaseSummary] = Field(description="Selected phases in run order, then the others.")
    waivers: list[WaiverApplied] | None = Field(description="None when not supplied.")
    total_cost_usd: float | None = Field(description="None when costs were not supplied.")
    total_tokens: int | None = Field(description="Tokens in + out; None when not supplied.")


class SecurityFinding(Finding):
    """A finding of a security agent, with the agent that reported it."""

    source: str = Field(min_length=1, description="Agent that reported it.")


class GeneratedCode(_Strict):
    """What the build phase generated (paths only; contents live in the workspace)."""

    package: str
    entry_point: str
    test_command: str | None
    source_files: list[str]
    test_files: list[str]
    covered_story_ids: list[str]


class ProductSection(_Strict):
    """PRD, stories, traceability matrix and API."""

    prd: PRDDocument | None = None
    stories: StoryMap | None = None
    traceability: TraceMatrix | None = None
    api: APIDesign | None = None


class CodeSection(_Strict):
    """Workspace, generated code, test plan and measured test report."""

    workspace: WorkspaceInfo | None = None
    generated: GeneratedCode | None = None
    test_plan: QATestPlan | None = None
    coverage_plan: CoveragePlan | None = None
    qa_report: QAReport | None = None


class SecuritySection(_Strict):
    """Agent findings, threats, dependencies, real scanners and the SBOM."""

    findings: list[SecurityFinding] | None = None
    counts: dict[str, int] | None = Field(
        default=None, description="Severity → findings (agents and scanners)."
    )
    threats: list[Threat] | None = None
    dependencies: list[Dependency] | None = None
    scanners: ScannerReport | None = None
    sbom: SBOMReport | None = None


class QualitySection(_Strict):
    """Performance budgets, accessibility, UI review and release notes."""

    performance: PerformanceBudgets | None = None
    accessibility: AccessibilityReport | None = None
    ui_review: UIReviewReport | None = None
    release_notes: ReleaseNotes | None = None


class DeploymentSection(_Strict):
    """Deployment plan (with canary stages) and rollback plan."""

    plan: DeploymentPlan | None = None
    rollback: RollbackPlan | None = None


class Dossier(_Strict):
    """The release dossier of one run (SPEC section 8)."""

    schema_version: Literal[1] = DOSSIER_SCHEMA_VERSION
    generated_at: float = Field(description="When it was compiled (epoch seconds).")
    run: RunSummary
    product: ProductSection
    code: CodeSection
    security: SecuritySection
    quality: QualitySection
    deployment: DeploymentSection
    ledger_head: Anchor | None = Field(
        description="The ledger's signed head when compiled (None: not supplied); pass it back to "
        "`Ledger.verify(run_id, anchor=...)` to detect truncation or rewriting since."
    )
    artifacts: list[ArtifactStatus] = Field(description="Every expected artifact, present or not.")
    completeness_percent: float = Field(ge=0, le=100, description="Present / expected × 100, 1 decimal.")
    missing: list[str] = Field(description="Keys of the missing artifacts, in `artifacts` order.")

    @model_validator(mode="after")
    def _consistent(self) -> Dossier:
        missing = [a.key for a in self.artifacts if not a.present]
        if self.missing != missing:
            raise ValueError(f"missing must list the absent artifacts {missing}, got {self.missing}")
        if self.completeness_percent != completeness(self.artifacts):
            raise ValueError(f"completeness_percent must be {completeness(self.artifacts)}")
        return self

    def storage_row(self) -> dict[str, Any]:
        """The `release_dossiers` row: run id, completeness, ledger head hash, JSON and time."""
        return {
            "run_id": self.run.run_id,
            "completeness": self.completeness_percent,
            "ledger_head": self.ledger_head.hash if self.ledger_head else None,
            "dossier": self.model_dump(mode="json"),
            "created_at": self.generated_at,
        }


def completeness(artifacts: list[ArtifactStatus]) -> float:
    """Share of expected artifacts that are present, in percent with one decimal (100 when none)."""
    if not artifacts:
        return 100.0
    return round(100 * sum(a.present for a in artifacts) / len(artifacts), 1)
