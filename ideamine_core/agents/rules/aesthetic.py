"""Offline rules of the aesthetic phase: UIReview and Accessibility."""

from __future__ import annotations

import ast
import re

from ideamine_core.agents.outputs._base import Level
from ideamine_core.agents.outputs.aesthetic import (
    A11yCheck,
    AccessibilityReport,
    UIIssue,
    UIReviewReport,
)
from ideamine_core.agents.outputs.build import Implementation
from ideamine_core.agents.outputs.prd import UXFlowSet
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules._text import singular, tokens
from ideamine_core.agents.rules.architecture import endpoints_of
from ideamine_core.agents.rules.prd import ux_flow
from ideamine_core.domain.agent import AgentContext

__all__ = ["accessibility", "error_messages", "ui_review"]

_SEGMENT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_VERBS = frozenset({"get", "create", "update", "delete", "list", "add", "remove", "fetch", "make"})
_GUIDANCE = (
    "expected",
    "allowed",
    "must",
    "e.g.",
    "try",
    "available",
    "valid",
    "required",
    "send",
    "add",
    "list",
)
_ERROR_CALLS = frozenset({"ValidationError", "NotFoundError", "ValueError", "HTTPException"})

IssueRow = tuple[Level, str, str, str, str]
"""(severity, category, target, message, suggestion)."""


def _literal(node: ast.expr) -> str | None:
    """A string constant or an f-string with '{}' for its holes; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def error_messages(ctx: AgentContext) -> list[tuple[str, str]]:
    """('path:line', message) of every error message in the build's non-test Python files."""
    impl = output_of(ctx, "build", "Implementer", Implementation)
    out: list[tuple[str, str]] = []
    for f in sorted(impl.files if impl else [], key=lambda f: f.path):
        if not f.path.endswith(".py") or f.path.startswith("tests/"):
            continue
        try:
            tree = ast.parse(f.content)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            texts: list[str | None] = []
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _ERROR_CALLS:
                texts = [_literal(a) for a in node.args[:1]]
            elif isinstance(node, ast.Dict):
                texts = [
                    _literal(v)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "error"
                ]
            where = f"{f.path}:{getattr(node, 'lineno', 0)}"
            out += [(where, t) for t in texts if t is not None]
    return sorted(set(out), key=lambda m: (m[0].rsplit(":", 1)[0], int(m[0].rsplit(":", 1)[1]), m[1]))


def _endpoint_rows(ctx: AgentContext) -> tuple[int, list[IssueRow]]:
    eps = endpoints_of(ctx)
    rows: list[IssueRow] = []
    prefixes: dict[str, set[str]] = {}
    for ep in eps:
        target = f"{ep.method} {ep.path}"
        fixed = [s for s in ep.path.strip("/").split("/") if s and not s.startswith("{")]
        for seg in fixed:
            if not _SEGMENT.match(seg):
                rows.append(
                    (
                        "medium",
                        "naming",
                        target,
                        f"Segment '{seg}' is not kebab-case",
                        "Use lower-case words joined by hyphens",
                    )
                )
            if _VERBS & set(seg.split("-")):
                rows.append(
                    (
                        "medium",
                        "naming",
                        target,
                        f"Segment '{seg}' contains a verb",
                        "Let the HTTP method carry the verb; name the resource",
                    )
                )
        if fixed and singular(fixed[0]) == fixed[0] and not fixed[0].endswith("s"):
            rows.append(
                (
                    "low",
                    "naming",
                    target,
                    f"Collection '{fixed[0]}' is singular",
                    "Use plural collection names",
                )
            )
        if len(tokens(ep.summary)) < 2:
            rows.append(
                (
                    "low",
                    "documentation",
                    target,
                    "Summary is too short to be useful",
                    "Say what the endpoint does and to what",
                )
            )
        if fixed:
            prefixes.setdefault(ep.entity, set()).add(fixed[0])
    for entity, segs in sorted(prefixes.items()):
        if len(segs) > 1:
            rows.append(
                (
                    "medium",
                    "consistency",
                    entity,
                    f"Served under {sorted(segs)}",
                    "Serve each entity from exactly one collection",
                )
            )
    return len(eps), rows


def ui_review(ctx: AgentContext) -> UIReviewReport:
    """UIReview: endpoint naming and the helpfulness of error messages."""
    checked, rows = _endpoint_rows(ctx)
    messages = error_messages(ctx)
    for where, text in messages:
        lowered = text.lower()
        if len(text) < 20 or not any(g in lowered for g in _GUIDANCE):
            rows.append(
                (
                    "low",
                    "error_message",
                    where,
                    f"Error '{text}' does not say how to fix it",
                    "Name the field or value and what is expected",
                )
            )
    issues = [
        UIIssue(id=f"UI-{i + 1}", severity=s, category=c, target=t, message=m, suggestion=sg)  # type: ignore[arg-type]
        for i, (s, c, t, m, sg) in enumerate(rows)
    ]
    summary = f"{len(issues)} issue(s) across {checked} endpoint(s) and {len(messages)} error message(s)."
    return UIReviewReport(
        checked_endpoints=checked,
        checked_messages=len(messages),
        issues=issues,
        summary=summary,
        notes=notes(ctx),
    )


def accessibility(ctx: AgentContext) -> AccessibilityReport:
    """Accessibility: WCAG 2.1 checks derived from the UX flows, traits and error messages."""
    feats = features(ctx.submission)
    flows = (output_of(ctx, "prd", "UXFlow", UXFlowSet) or ux_flow(ctx)).flows
    steps = [s for f in flows for s in f.steps]
    messages = error_messages(ctx)
    confirm = any("confirm" in s.lower() for s in steps)
    rows = [
        (
            "1.1.1",
            "Icons and images in the flows have text alternatives",
            "manual",
            f"Check every icon in {len(flows)} flow(s)",
        ),
        ("1.4.3", "Text contrast is at least 4.5:1", "manual", "Check the design tokens"),
        (
            "2.1.1",
            "Every flow step works with a keyboard or switch access",
            "manual",
            f"{len(steps)} step(s) to walk through",
        ),
        (
            "2.5.5",
            "Touch targets are at least 44 x 44 px",
            "manual" if feats.mobile else "not_applicable",
            "Mobile-first: check on a 360 px wide screen" if feats.mobile else "Not a touch UI",
        ),
        (
            "3.3.1",
            "Errors are identified and described in text",
            "pass" if messages else "manual",
            f"{len(messages)} API error message(s) are text" if messages else "No build to inspect",
        ),
        (
            "3.3.4",
            "Destructive actions can be confirmed or undone",
            "pass" if confirm else "manual",
            "Delete flow asks for confirmation" if confirm else "Check destructive actions",
        ),
        (
            "4.1.3",
            "Live changes are announced to screen readers",
            "manual" if feats.realtime else "not_applicable",
            "Use an aria-live region for changes from others" if feats.realtime else "No live updates",
        ),
    ]
    checks = [
        A11yCheck(id=f"A11Y-{i + 1}", guideline=f"WCAG 2.1 {g}", description=d, status=s, note=n)  # type: ignore[arg-type]
        for i, (g, d, s, n) in enumerate(rows)
    ]
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "fail", "manual")}
    summary = f"{counts['pass']} pass, {counts['fail']} fail, {counts['manual']} to check by hand."
    return AccessibilityReport(checks=checks, summary=summary, notes=notes(ctx))
