"""Offline rules of the security phase: deterministic inspection of the build phase's files."""

from __future__ import annotations

from typing import TypeVar

from ideamine_core.agents.outputs._base import SEVERITIES, Severity
from ideamine_core.agents.outputs.build import GeneratedTestSuite, Implementation, SourceFile
from ideamine_core.agents.outputs.security import (
    Dependency,
    DependencyReport,
    Finding,
    FindingsReport,
    SASTReport,
    SbomComponent,
    SBOMReport,
    SecretsReport,
    Threat,
    ThreatModelReport,
)
from ideamine_core.agents.rules import _scan as scan
from ideamine_core.agents.rules._ctx import notes, output_of
from ideamine_core.agents.rules._text import human, plural
from ideamine_core.agents.rules.architecture import CHANGE, entities_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["dependencies", "sast", "sbom", "secrets", "threat_model", "workspace"]

Row = scan.Row

R = TypeVar("R", bound=FindingsReport)


def workspace(ctx: AgentContext) -> list[SourceFile]:
    """The build phase's files (Implementer, then TestWriter); empty when build is absent."""
    impl = output_of(ctx, "build", "Implementer", Implementation)
    tests = output_of(ctx, "build", "TestWriter", GeneratedTestSuite)
    files = [*(impl.files if impl else []), *(tests.files if tests else [])]
    return sorted(files, key=lambda f: f.path)


def _report(
    cls: type[R],
    ctx: AgentContext,
    prefix: str,
    rows: list[Row],
    scanned: int,
    what: str,
    **extra: object,
) -> R:
    """Number the findings in (location, title) order, count them and summarise."""

    def key(r: Row) -> tuple[str, int, str, str, str]:
        path, _, line = r[2].rpartition(":")
        where = (path, int(line)) if line.isdigit() else (r[2], 0)
        return (*where, r[1], r[0], r[3])

    ordered = sorted(set(rows), key=key)
    findings = [
        Finding(id=f"{prefix}-{i + 1}", severity=s, title=t, location=loc, detail=d)
        for i, (s, t, loc, d) in enumerate(ordered)
    ]
    counts = {sev: sum(1 for f in findings if f.severity == sev) for sev in SEVERITIES}
    worst = next((s for s in reversed(SEVERITIES) if counts[s]), None)
    if scanned == 0 and not findings:
        summary = f"No build output to scan for {what}."
    else:
        tail = f", worst: {worst}" if worst else ""
        summary = f"{len(findings)} {what} finding(s) in {scanned} file(s){tail}."
    return cls(
        scanned_files=scanned,
        findings=findings,
        counts=counts,
        summary=summary,
        notes=notes(ctx),
        **extra,
    )


def secrets(ctx: AgentContext) -> SecretsReport:
    """Secrets: key-like strings in any file; the finding never repeats the value."""
    files = workspace(ctx)
    rows = [row for f in files for row in scan.secret_rows(f)]
    return _report(SecretsReport, ctx, "SEC", rows, len(files), "secret")


def sast(ctx: AgentContext) -> SASTReport:
    """SAST: eval/exec, pickle, shell=True and similar patterns found by parsing the code."""
    files = [f for f in workspace(ctx) if f.path.endswith(".py")]
    rows = [row for f in files for row in scan.sast_rows(f)]
    return _report(SASTReport, ctx, "SAST", rows, len(files), "SAST")


def dependencies(ctx: AgentContext) -> DependencyReport:
    """Dependencies: imports outside the standard library, runtime or test-only."""
    files = workspace(ctx)
    deps: list[Dependency] = []
    rows: list[Row] = []
    for name, uses in scan.third_party(files).items():
        kind = "dev" if all(scan.is_test(p) for p, _ in uses) else "runtime"
        deps.append(Dependency(name=name, kind=kind, files=sorted({p for p, _ in uses})))
        path, line = uses[0]
        sev: Severity = "info" if kind == "dev" else "low"
        rows.append(
            (
                sev,
                f"Unpinned {kind} dependency '{name}'",
                f"{path}:{line}",
                "pin it in a lock file and scan it for known vulnerabilities",
            )
        )
    return _report(DependencyReport, ctx, "DEP", rows, len(files), "dependency", dependencies=deps)


def threat_model(ctx: AgentContext) -> ThreatModelReport:
    """ThreatModel: STRIDE threats per asset, plus findings for controls missing from the API."""
    entities = entities_of(ctx)
    names = [e.name for e in entities if e.name != CHANGE]
    rows_t = [
        (
            "spoofing",
            "API service",
            "Callers are not authenticated, so anyone can act as anyone",
            "Token-based authentication on every endpoint",
        ),
        (
            "denial_of_service",
            "API service",
            "No rate limit or request size limit",
            "Cap body size and rate per client",
        ),
        (
            "repudiation",
            "Change history",
            "Changes are not attributed to a person",
            "Record the acting user with every change",
        ),
    ]
    for name in names:
        es = plural(human(name))
        rows_t.append(
            (
                "tampering",
                name,
                f"Anyone who reaches the API can change {es}",
                f"Authorise every write of {es} per record",
            )
        )
    if "User" in names:
        rows_t.append(
            (
                "information_disclosure",
                "User",
                "Listing users exposes e-mail addresses",
                "Return e-mails only to the user and admins",
            )
        )
    rows_t.append(
        (
            "elevation_of_privilege",
            "API service",
            "There are no roles: every caller may delete",
            "Roles with least privilege; deletes need owner rights",
        )
    )
    threats = [
        Threat(id=f"THR-{i + 1}", category=c, asset=a, description=d, mitigation=m)  # type: ignore[arg-type]
        for i, (c, a, d, m) in enumerate(rows_t)
    ]
    files = workspace(ctx)
    rows: list[Row] = []
    for f in files:
        if scan.is_test(f.path) or not f.path.endswith(".py") or "BaseHTTPRequestHandler" not in f.content:
            continue
        if "Authorization" not in f.content:
            rows.append(("medium", "API has no authentication", f.path, "see THR-1"))
        if "MAX_BODY" not in f.content:
            rows.append(("low", "No request body size limit", f.path, "see THR-2"))
    return _report(ThreatModelReport, ctx, "TM", rows, len(files), "threat-model", threats=threats)


def sbom(ctx: AgentContext) -> SBOMReport:
    """SBOM: the application plus every third-party library it imports."""
    files = workspace(ctx)
    impl = output_of(ctx, "build", "Implementer", Implementation)
    app = impl.package if impl else ctx.submission.slug()
    comps = [
        SbomComponent(
            name=app,
            version="0.1.0",
            type="application",
            purl=f"pkg:generic/{app}@0.1.0",
            scope="required",
        )
    ]
    rows: list[Row] = []
    for name, uses in scan.third_party(files).items():
        dev = all(scan.is_test(p) for p, _ in uses)
        comps.append(
            SbomComponent(
                name=name,
                version="unpinned",
                type="library",
                purl=f"pkg:pypi/{name.lower()}",
                scope="optional" if dev else "required",
            )
        )
        rows.append(
            (
                "info",
                f"Component '{name}' has no pinned version",
                name,
                "pin versions so the SBOM is reproducible",
            )
        )
    return _report(SBOMReport, ctx, "SBOM", rows, len(files), "SBOM", components=comps)
