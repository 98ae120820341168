"""Gather a run's artifacts and the supplied inputs into a Dossier, with completeness and missing items."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel

from ideamine_core.agents.outputs.aesthetic import AccessibilityReport, UIReviewReport
from ideamine_core.agents.outputs.architecture import APIDesign
from ideamine_core.agents.outputs.build import GeneratedTestSuite, Implementation, ScaffoldPlan
from ideamine_core.agents.outputs.prd import PRDDocument, StoryMap, TraceMatrix
from ideamine_core.agents.outputs.qa import CoveragePlan, PerformanceBudgets, QATestPlan
from ideamine_core.agents.outputs.release import DeploymentPlan, ReleaseNotes, RollbackPlan
from ideamine_core.agents.outputs.security import (
    DependencyReport,
    FindingsReport,
    SASTReport,
    SBOMReport,
    SecretsReport,
    ThreatModelReport,
)
from ideamine_core.agents.registry import PHASES
from ideamine_core.domain.artifact import EvidencePack
from ideamine_core.dossier.model import (
    ArtifactStatus,
    CodeSection,
    DeploymentSection,
    Dossier,
    DossierInputs,
    GateAttemptSummary,
    GeneratedCode,
    PhaseCost,
    PhaseSummary,
    ProductSection,
    QualitySection,
    RunSummary,
    Section,
    SecurityFinding,
    SecuritySection,
    completeness,
)
from ideamine_core.dossier.sources import RunFolder, Sources, load_run_folder
from ideamine_core.redaction import Redactor, default_redactor
from ideamine_core.storage.run_store import RunStore

SEVERITY_KEYS = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class Expected:
    """An artifact the dossier expects: from phase agents, or from an explicit input."""

    key: str
    section: Section
    title: str
    phase: str | None = None
    agents: tuple[str, ...] = ()
    input: str | None = None

    @property
    def source(self) -> str:
        """'phase/Agent,Agent' or 'input:<name>'."""
        return f"input:{self.input}" if self.input else f"{self.phase}/{','.join(self.agents)}"


EXPECTED: tuple[Expected, ...] = (
    Expected("product.prd", "product", "PRD", "prd", ("PRDWriter",)),
    Expected("product.user_stories", "product", "User stories", "prd", ("StoryCutter",)),
    Expected("product.traceability_matrix", "product", "Traceability matrix", "prd", ("TraceMatrix",)),
    Expected("product.openapi", "product", "OpenAPI specification", "architecture", ("APIDesigner",)),
    Expected("code.generated_code", "code", "Generated code", "build", ("Implementer", "TestWriter")),
    Expected("code.workspace", "code", "Workspace path and commit", input="workspace"),
    Expected("code.test_report", "code", "Test report", input="qa_report"),
    Expected("code.coverage", "code", "Coverage", input="qa_report.coverage_percent"),
    Expected(
        "security.findings",
        "security",
        "Security findings",
        "security",
        ("Secrets", "SAST", "Dependencies", "ThreatModel"),
    ),  # fmt: skip
    Expected("security.scanner_findings", "security", "Scanner findings", input="scanners"),
    Expected("security.sbom", "security", "SBOM", "security", ("SBOM",)),
    Expected("quality.performance", "quality", "Performance budgets", "qa", ("Performance",)),
    Expected("quality.accessibility", "quality", "Accessibility review", "aesthetic", ("Accessibility",)),
    Expected("quality.release_notes", "quality", "Release notes", "release", ("ReleaseNotes",)),
    Expected("deployment.plan", "deployment", "Deployment plan", "release", ("DeploymentPlan",)),
    Expected("deployment.canary_rules", "deployment", "Canary rules", "release", ("DeploymentPlan",)),
    Expected("deployment.rollback", "deployment", "Rollback plan", "release", ("Rollback",)),
    Expected("audit.ledger_head", "audit", "Ledger head", input="ledger_head"),
    Expected("audit.phase_costs", "audit", "Cost per phase", input="phase_costs"),
    Expected("audit.waivers", "audit", "Waivers applied", input="waivers"),
)
"""Every artifact a complete dossier holds, in display order."""

_NOT_SUPPLIED = {
    "workspace": "workspace path and commit not supplied (the build workspace records them)",
    "qa_report": "test report not supplied (QA's sandboxed test run measures it)",
    "scanners": "real scanners' findings not supplied (bandit, detect-secrets, SBOM generator)",
    "ledger_head": "ledger head not supplied (the ledger's signature entry anchors it)",
    "phase_costs": "cost per phase not supplied (summed from the ledger's cost entries)",
    "waivers": "waivers not supplied (the waivers table lists them)",
}


_MODELS: dict[str, type[BaseModel]] = {
    "PRDWriter": PRDDocument,
    "StoryCutter": StoryMap,
    "TraceMatrix": TraceMatrix,
    "APIDesigner": APIDesign,
    "Implementer": Implementation,
    "TestWriter": GeneratedTestSuite,
    "Secrets": SecretsReport,
    "SAST": SASTReport,
    "Dependencies": DependencyReport,
    "ThreatModel": ThreatModelReport,
    "SBOM": SBOMReport,
    "Performance": PerformanceBudgets,
    "Accessibility": AccessibilityReport,
    "ReleaseNotes": ReleaseNotes,
    "DeploymentPlan": DeploymentPlan,
    "Rollback": RollbackPlan,
}


def compile_dossier(
    store: RunStore,
    run_id: str,
    inputs: DossierInputs | None = None,
    *,
    now: float | None = None,
    redactor: Redactor | None = None,
) -> Dossier:
    """Compile the dossier of `run_id` from its run folder and the optional `inputs`."""
    return compile_from_folder(load_run_folder(store, run_id), inputs, now=now, redactor=redactor)


def compile_from_folder(
    folder: RunFolder,
    inputs: DossierInputs | None = None,
    *,
    now: float | None = None,
    redactor: Redactor | None = None,
) -> Dossier:
    """Compile a dossier from loaded run-folder data and the optional `inputs`, with secrets redacted.

    Every string passes through `redactor` (default: the process environment's secrets and known
    credential shapes), so a key pasted into an idea or quoted by a tool never reaches the dossier.
    """
    dossier = _compile(folder, inputs or DossierInputs(), time.time() if now is None else now)
    clean = (redactor or default_redactor()).redact_value(dossier.model_dump(mode="json"))
    return Dossier.model_validate(clean)


def _compile(folder: RunFolder, inputs: DossierInputs, now: float) -> Dossier:
    src = Sources(folder)
    artifacts = [_status(exp, src, inputs) for exp in EXPECTED]
    security = _security(src, inputs)
    return Dossier(
        generated_at=now,
        run=_run_summary(folder, inputs),
        product=ProductSection(
            prd=src.get("prd", "PRDWriter", PRDDocument),
            stories=src.get("prd", "StoryCutter", StoryMap),
            traceability=src.get("prd", "TraceMatrix", TraceMatrix),
            api=src.get("architecture", "APIDesigner", APIDesign),
        ),
        code=CodeSection(
            workspace=inputs.workspace,
            generated=_generated(src),
            test_plan=src.get("qa", "TestRunner", QATestPlan),
            coverage_plan=src.get("qa", "Coverage", CoveragePlan),
            qa_report=inputs.qa_report,
        ),
        security=security,
        quality=QualitySection(
            performance=src.get("qa", "Performance", PerformanceBudgets),
            accessibility=src.get("aesthetic", "Accessibility", AccessibilityReport),
            ui_review=src.get("aesthetic", "UIReview", UIReviewReport),
            release_notes=src.get("release", "ReleaseNotes", ReleaseNotes),
        ),
        deployment=DeploymentSection(
            plan=src.get("release", "DeploymentPlan", DeploymentPlan),
            rollback=src.get("release", "Rollback", RollbackPlan),
        ),
        ledger_head=inputs.ledger_head,
        artifacts=artifacts,
        completeness_percent=completeness(artifacts),
        missing=[a.key for a in artifacts if not a.present],
    )


def _status(exp: Expected, src: Sources, inputs: DossierInputs) -> ArtifactStatus:
    """Whether one expected artifact is present, with its hash or the reason it is missing."""
    reason: str | None
    content_hash: str | None = None
    if exp.input:
        reason = _input_absence(exp.input, inputs)
    else:
        assert exp.phase is not None
        reasons = [src.reason(exp.phase, agent, _MODELS[agent]) for agent in exp.agents]
        reason = "; ".join(dict.fromkeys(r for r in reasons if r)) or None
        content_hash = None if reason else src.output_hash(exp.phase, exp.agents)
    return ArtifactStatus(
        key=exp.key,
        section=exp.section,
        title=exp.title,
        source=exp.source,
        present=reason is None,
        content_hash=content_hash,
        reason=reason,
    )


def _input_absence(name: str, inputs: DossierInputs) -> str | None:
    if name == "qa_report.coverage_percent":
        if inputs.qa_report is None:
            return _NOT_SUPPLIED["qa_report"]
        return None if inputs.qa_report.coverage_percent is not None else "the test report has no coverage"
    return _NOT_SUPPLIED[name] if getattr(inputs, name) is None else None


def _generated(src: Sources) -> GeneratedCode | None:
    impl = src.get("build", "Implementer", Implementation)
    if impl is None:
        return None
    scaffold = src.get("build", "Scaffolder", ScaffoldPlan)
    tests = src.get("build", "TestWriter", GeneratedTestSuite)
    return GeneratedCode(
        package=impl.package,
        entry_point=impl.entry_point,
        test_command=scaffold.test_command if scaffold else None,
        source_files=[f.path for f in impl.files],
        test_files=[f.path for f in tests.files] if tests else [],
        covered_story_ids=tests.covered_story_ids if tests else [],
    )


_FINDING_AGENTS = ("Secrets", "SAST", "Dependencies", "ThreatModel", "SBOM")


def _security(src: Sources, inputs: DossierInputs) -> SecuritySection:
    reports = {name: src.get("security", name, _MODELS[name]) for name in _FINDING_AGENTS}
    present = {name: r for name, r in reports.items() if isinstance(r, FindingsReport)}
    findings = [
        SecurityFinding(source=name, **f.model_dump()) for name, r in present.items() for f in r.findings
    ]
    severities = [f.severity for f in findings]
    if inputs.scanners is not None:
        severities += [f.severity for f in inputs.scanners.findings]
    threats, deps = reports["ThreatModel"], reports["Dependencies"]
    sbom = reports["SBOM"]
    return SecuritySection(
        findings=findings if present else None,
        counts={k: severities.count(k) for k in SEVERITY_KEYS} if present or inputs.scanners else None,
        threats=threats.threats if isinstance(threats, ThreatModelReport) else None,
        dependencies=deps.dependencies if isinstance(deps, DependencyReport) else None,
        scanners=inputs.scanners,
        sbom=sbom if isinstance(sbom, SBOMReport) else None,
    )


def _run_summary(folder: RunFolder, inputs: DossierInputs) -> RunSummary:
    phases = [_phase_summary(folder, p, inputs) for p in dict.fromkeys([*folder.run.phases, *PHASES])]
    costs = inputs.phase_costs
    models = [inputs.model] if inputs.model else _provenance_models(folder)
    return RunSummary(
        run_id=folder.run.run_id,
        submission=folder.run.submission,
        created_at=folder.run.created_at,
        models=models,
        status=_run_status(phases),
        phases=phases,
        waivers=inputs.waivers,
        total_cost_usd=round(sum(c.cost_usd for c in costs.values()), 6) if costs is not None else None,
        total_tokens=sum(c.tokens_in + c.tokens_out for c in costs.values()) if costs is not None else None,
    )


def _provenance_models(folder: RunFolder) -> list[str]:
    found = {
        f"{r.provenance.provider}:{r.provenance.model}"
        for artifact in folder.artifacts.values()
        for r in artifact.results
    }
    return sorted(found)


def _phase_summary(folder: RunFolder, phase: str, inputs: DossierInputs) -> PhaseSummary:
    record = folder.phases.get(phase)
    cost = None
    if inputs.phase_costs is not None:  # supplied: a phase that ran without billed calls cost nothing
        cost = inputs.phase_costs.get(phase) or (PhaseCost(cost_usd=0.0) if record else None)
    if inputs.gate_history is not None:
        history = inputs.gate_history.get(phase, [])
    else:
        history = [_attempt(pack) for pack in folder.evidence.get(phase, [])]
    if phase not in folder.run.phases or record is None:
        status = "not_selected" if phase not in folder.run.phases else "not_started"
        return PhaseSummary(phase=phase, status=status, gate_history=history, cost=cost)
    known = ("passed", "failed", "escalated", "error", "running")
    return PhaseSummary(
        phase=phase,
        status=record.status if record.status in known else "error",
        started_at=record.started_at,
        finished_at=record.finished_at,
        duration_seconds=record.duration,
        gate_score=record.gate_score,
        threshold=record.threshold,
        attempts=max(record.attempts, len(history)),
        gate_history=history,
        cost=cost,
        artifact_hash=record.artifact_hash,
        detail=record.detail,
    )


def _attempt(pack: EvidencePack) -> GateAttemptSummary:
    gate = pack.gate
    return GateAttemptSummary(
        attempt=pack.attempt,
        score=gate.score,
        threshold=gate.threshold,
        passed=gate.passed,
        reasons=[f"{r.code}: {r.item}" for r in gate.reasons],
    )


def _run_status(phases: list[PhaseSummary]) -> str:
    selected = [p for p in phases if p.status != "not_selected"]
    states = {p.status for p in selected}
    if "escalated" in states:
        return "escalated"
    if states & {"failed", "error"}:
        return "failed"
    if "running" in states:
        return "running"
    return "passed" if states == {"passed"} else "incomplete"
