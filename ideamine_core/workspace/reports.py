"""The security agents' outputs from real scanner results: Secrets, SAST, Dependencies and SBOM reports.

The lead's wiring calls these with a `SecurityScan` so the reports the gate reads carry real findings,
the tool that found them and its time. A tool that failed produces a report whose summary says so and
whose `notes` carry the error: it never looks like a clean scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from ideamine_core.agents.outputs.security import (
    Dependency,
    DependencyReport,
    FindingsReport,
    SbomComponent,
    SBOMReport,
)
from ideamine_core.agents.rules._scan import is_test, third_party
from ideamine_core.workspace._tools import ToolRun, text_files
from ideamine_core.workspace.findings import counts_by_severity, to_output_findings
from ideamine_core.workspace.sbom import SbomResult

__all__ = ["dependency_report", "findings_report", "sbom_report"]

R = TypeVar("R", bound=FindingsReport)

NO_VULN_DB = (
    "Known-vulnerability lookup was not run: no offline vulnerability database is available "
    "(pip-audit needs the network)."
)


def findings_report(
    cls: type[R],
    run: ToolRun | None,
    *,
    prefix: str,
    what: str,
    error: str | None = None,
    notes: list[str] | None = None,
) -> R:
    """`cls` (SecretsReport, SASTReport, ...) from one tool run; `error` when the tool failed."""
    notes = list(notes or [])
    if run is None or error:
        notes.append(f"{what} scan failed: {error or 'the tool did not run'}")
        return cls(
            scanned_files=0,
            findings=[],
            counts=counts_by_severity([]),
            summary=f"The {what} scan did not complete; nothing was checked.",
            notes=notes,
        )
    findings = to_output_findings(run.findings, prefix)
    counts = counts_by_severity(run.findings)
    worst = next((s for s in ("critical", "high", "medium", "low", "info") if counts[s]), None)
    tail = f", worst: {worst}" if worst else ""
    return cls(
        scanned_files=run.scanned_files,
        findings=findings,
        counts=counts,
        summary=f"{len(findings)} {what} finding(s) in {run.scanned_files} file(s) by {run.tool}{tail}.",
        notes=notes,
        tool=run.tool,
        tool_seconds=round(run.seconds, 3),
    )


def sbom_report(result: SbomResult, *, notes: list[str] | None = None) -> SBOMReport:
    """The SBOM agent's report: the root component, then each library, with the CycloneDX document."""
    meta = result.document.get("metadata", {}).get("component", {})
    name, version = str(meta.get("name") or "workspace"), str(meta.get("version") or "0.0.0")
    comps = [
        SbomComponent(
            name=name,
            version=version,
            type="application",
            purl=f"pkg:generic/{name}@{version}",
            scope="required",
        )
    ]
    for c in result.components:
        comps.append(
            SbomComponent(
                name=c["name"],
                version=c["version"] or "unpinned",
                type="library",
                purl=c["purl"] or f"pkg:pypi/{c['name'].lower()}",
                scope="optional" if c.get("scope") == "optional" else "required",
            )
        )
    return SBOMReport(
        scanned_files=0,
        findings=[],
        counts=counts_by_severity([]),
        summary=f"CycloneDX {result.spec_version} SBOM: {name} and {len(result.components)} libraries.",
        notes=list(notes or []),
        tool=result.tool,
        tool_seconds=round(result.seconds, 3),
        format=f"CycloneDX {result.spec_version} JSON",
        components=comps,
        document=result.document,
    )


def dependency_report(root: Path, *, notes: list[str] | None = None) -> DependencyReport:
    """Third-party imports of the project under `root`, runtime or test-only (no vulnerability lookup)."""
    files = [f for f in text_files(root) if f.path.endswith(".py")]
    deps = [
        Dependency(
            name=name,
            kind="dev" if all(is_test(p) for p, _ in uses) else "runtime",
            files=sorted({p for p, _ in uses}),
        )
        for name, uses in third_party(files).items()
    ]
    runtime = sum(1 for d in deps if d.kind == "runtime")
    return DependencyReport(
        scanned_files=len(files),
        findings=[],
        counts=counts_by_severity([]),
        summary=f"{len(deps)} third-party import(s), {runtime} at runtime. {NO_VULN_DB}",
        notes=[*(notes or []), NO_VULN_DB],
        dependencies=deps,
    )
