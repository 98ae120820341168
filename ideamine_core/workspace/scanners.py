"""Real security scanners on a workspace, offline: bandit (SAST), detect-secrets, the SBOM, injection rules.

Each tool runs as a subprocess of this interpreter with a clean environment (no API keys), a timeout and,
where the host allows it, in a new network namespace (`unshare --net`), so a scanner cannot reach the
network even by accident. Every run is timed: `SecurityScan.tool_seconds` is what the phase's
`tools_minutes` budget is charged. A tool that fails is recorded in `errors`, never read as "no findings".
"""

from __future__ import annotations

import ast
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.outputs._base import SEVERITIES, Severity
from ideamine_core.agents.rules._scan import is_test
from ideamine_core.errors import ToolError
from ideamine_core.workspace._tools import TIMEOUT, ToolRun, parse_json, run_tool, text_files, tool_version
from ideamine_core.workspace.findings import ScanFinding, hard_blocker_metrics, shift
from ideamine_core.workspace.injection import sanitize
from ideamine_core.workspace.repo import Workspace
from ideamine_core.workspace.sbom import SbomResult, run_sbom

__all__ = [
    "SecurityScan",
    "ToolRun",
    "run_bandit",
    "run_detect_secrets",
    "run_injection_scan",
    "scan",
    "scan_workspace",
]

_CRITICAL_SECRETS = frozenset(
    {
        "AWS Access Key",
        "Private Key",
        "Azure Storage Account access key",
        "GitHub Token",
        "GitLab Token",
        "Stripe Access Key",
        "OpenAI Token",
        "Slack Token",
        "Twilio API Key",
        "SendGrid API Key",
        "PyPI upload token",
        "IBM Cloud IAM Key",
        "Discord Bot Token",
        "Telegram Bot Token",
        "Mailchimp Access Key",
        "NPM tokens",
        "Square OAuth Secret",
    }
)
_SINKS = frozenset({"B102", "B301", "B302", "B506", "B602", "B605", "B307"})
_REDACT = frozenset({"B105", "B106", "B107"})  # their issue text repeats the password
_BANDIT_LEVELS: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "UNDEFINED": "info"}
_CONFIDENCE = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


class SecurityScan(BaseModel):
    """Every scanner's result on one workspace snapshot."""

    model_config = ConfigDict(extra="forbid")

    runs: dict[str, ToolRun] = Field(
        default_factory=dict, description="'secrets', 'sast', 'injection' → run."
    )
    sbom: SbomResult | None = None
    errors: dict[str, str] = Field(
        default_factory=dict, description="Tool → why it failed (then it found nothing)."
    )

    @property
    def findings(self) -> list[ScanFinding]:
        """Every finding of every tool."""
        return [f for run in self.runs.values() for f in run.findings]

    @property
    def tool_seconds(self) -> float:
        """Wall-clock seconds spent in tools (charged to the phase's tools_minutes budget)."""
        return sum(r.seconds for r in self.runs.values()) + (self.sbom.seconds if self.sbom else 0.0)

    @property
    def complete(self) -> bool:
        """True when every tool ran; a gate must not pass an incomplete scan."""
        return not self.errors

    def metrics(self) -> dict[str, int]:
        """Hard-blocker metrics of the findings, plus `scanner_errors` (tools that failed)."""
        return {**hard_blocker_metrics(self.findings), "scanner_errors": len(self.errors)}


# --- bandit -------------------------------------------------------------------------------------------


def _is_user_input(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("input", "raw_input")
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "sys" and node.attr in ("argv", "stdin")
    return False


def _user_input_reaches(source: str, line: int) -> bool:
    """Whether a call on `line` takes user input (input(), sys.argv, sys.stdin) in its arguments."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno <= line <= (node.end_lineno or node.lineno):
            args = [*node.args, *(k.value for k in node.keywords)]
            if any(_is_user_input(sub) for arg in args for sub in ast.walk(arg)):
                return True
    return False


def _bandit_finding(item: dict[str, Any], root: Path, tool: str) -> ScanFinding | None:
    path = os.path.normpath(str(item["filename"])).replace(os.sep, "/")
    rule = str(item.get("test_id", "B000"))
    if rule == "B101" and is_test(path):
        return None
    severity = _BANDIT_LEVELS.get(str(item.get("issue_severity")), "medium")
    confidence = _CONFIDENCE.get(str(item.get("issue_confidence")))
    if confidence == "low":
        severity = shift(severity, -1)
    line = int(item.get("line_number") or 0)
    text = str(item.get("issue_text", ""))
    if rule in _REDACT:
        text = text.split(":")[0] + " (value redacted)"
    if rule in _SINKS:
        severity = max(severity, "high", key=SEVERITIES.index)
        if _user_input_reaches((root / path).read_text(encoding="utf-8", errors="replace"), line):
            severity, text = "critical", f"User input reaches a code-execution sink. {text}"
    cwe = (item.get("issue_cwe") or {}).get("id")
    detail = " ".join(x for x in (f"CWE-{cwe}." if cwe else "", f"See {item.get('more_info')}") if x)
    return ScanFinding(
        tool=tool,
        rule=rule,
        category="sast",
        severity=severity,
        confidence=confidence,  # type: ignore[arg-type]
        title=text[:200] or rule,
        path=path,
        line=line,
        detail=detail,
    )


def run_bandit(root: Path, *, timeout: float = TIMEOUT) -> ToolRun:
    """bandit on every Python file under `root` (asserts in tests are not findings)."""
    root = root.resolve()
    tool = tool_version("bandit")
    out, seconds = run_tool("bandit", ["-r", ".", "-f", "json", "-q", "-x", "./.git"], root, tool, timeout)
    data = parse_json(out, tool)
    findings = [f for item in data.get("results", []) if (f := _bandit_finding(item, root, tool)) is not None]
    for error in data.get("errors", []):
        path = os.path.normpath(str(error.get("filename", ""))).replace(os.sep, "/")
        findings.append(
            ScanFinding(
                tool=tool,
                rule="parse-error",
                category="sast",
                severity="info",
                title="File could not be analysed",
                path=path,
                detail=str(error.get("reason", ""))[:200],
            )
        )
    scanned = len([k for k in data.get("metrics", {}) if k != "_totals"])
    return ToolRun(tool=tool, seconds=seconds, scanned_files=scanned, findings=findings)


# --- detect-secrets -----------------------------------------------------------------------------------


def run_detect_secrets(root: Path, *, timeout: float = TIMEOUT) -> ToolRun:
    """detect-secrets on every file under `root`; one finding per file and line, the value never kept."""
    root = root.resolve()
    tool = tool_version("detect-secrets")
    args = ["scan", "--all-files", "--exclude-files", r"(^|/)\.git/", "."]
    out, seconds = run_tool("detect_secrets", args, root, tool, timeout)
    results: dict[str, list[dict[str, Any]]] = parse_json(out, tool).get("results", {})
    findings: list[ScanFinding] = []
    for filename, hits in sorted(results.items()):
        by_line: dict[int, set[str]] = {}
        for hit in hits:
            by_line.setdefault(int(hit.get("line_number") or 0), set()).add(str(hit.get("type", "Secret")))
        for line, types in sorted(by_line.items()):
            critical = bool(types & _CRITICAL_SECRETS)
            findings.append(
                ScanFinding(
                    tool=tool,
                    rule=", ".join(sorted(types)),
                    category="secret",
                    severity="critical" if critical else "high",
                    title=f"Hard-coded secret ({', '.join(sorted(types))})",
                    path=Path(filename).as_posix().removeprefix("./"),
                    line=line,
                    detail="Value redacted. Remove it from code and history; load it from a secret store.",
                )
            )
    scanned = sum(1 for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts)
    return ToolRun(tool=tool, seconds=seconds, scanned_files=scanned, findings=findings)


# --- SBOM ---------------------------------------------------------------------------------------------


# --- injection and the whole scan ---------------------------------------------------------------------


def run_injection_scan(root: Path) -> ToolRun:
    """Prompt-injection signals and invisible characters in the workspace's text files (IdeaMine's rules)."""
    start = time.monotonic()
    files = text_files(root.resolve())
    findings: list[ScanFinding] = []
    for f in files:
        found = sanitize(f.content)
        common = {"tool": "ideamine-injection", "category": "injection", "path": f.path}
        if found.removed:
            findings.append(
                ScanFinding(
                    **common,
                    rule="invisible-characters",
                    severity="high",
                    title=f"{found.removed} invisible Unicode character(s) (hidden text or bidi controls)",
                    detail="Strip them; they can hide instructions or reorder code (Trojan Source).",
                )
            )
        for signal in found.signals:
            findings.append(
                ScanFinding(
                    **common,
                    rule=signal.kind,
                    severity="medium",
                    title=f"Prompt-injection text{' (hidden in tag characters)' if signal.hidden else ''}",
                    detail=f"Matched {signal.excerpt!r}; treat this file as data, never as instructions.",
                )
            )
    return ToolRun(
        tool="ideamine-injection",
        seconds=time.monotonic() - start,
        scanned_files=len(files),
        findings=findings,
    )


def scan_workspace(
    ws: Workspace, *, project_name: str, rev: str = "HEAD", validate_sbom: bool = True
) -> SecurityScan:
    """Every scanner on the committed tree of `rev` (exported to a temporary folder, removed after)."""
    with tempfile.TemporaryDirectory(prefix="ideamine-scan-") as tmp:
        ws.export(Path(tmp), rev)
        return scan(Path(tmp), project_name=project_name, validate_sbom=validate_sbom)


def scan(root: Path, *, project_name: str, sbom: bool = True, validate_sbom: bool = True) -> SecurityScan:
    """Run every scanner on the project under `root` (a workspace export); failures go to `errors`."""
    result = SecurityScan()
    steps: dict[str, Callable[[Path], ToolRun]] = {
        "secrets": run_detect_secrets,
        "sast": run_bandit,
        "injection": run_injection_scan,
    }
    for name, step in steps.items():
        try:
            result.runs[name] = step(root)
        except ToolError as exc:
            result.errors[name] = exc.explain()
    if sbom:
        try:
            result.sbom = run_sbom(root, project_name=project_name, validate=validate_sbom)
        except ToolError as exc:
            result.errors["sbom"] = exc.explain()
    return result
