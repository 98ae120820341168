"""Offline rules of the aesthetic phase: UIReview and Accessibility, over the generated API/UI surface.

They read the build's files as the workspace holds them (the Implementer's and TestWriter's files at the
build commit; paths the workspace policy refused are left out): the routes the generated API serves and
its error messages for UIReview, its HTML pages for Accessibility, beside the API design and UX flows.
"""

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
from ideamine_core.agents.outputs.build import GeneratedTestSuite, Implementation, SourceFile
from ideamine_core.agents.outputs.prd import UXFlowSet
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules._html_a11y import audit_pages, is_page
from ideamine_core.agents.rules._text import singular, tokens
from ideamine_core.agents.rules.architecture import endpoints_of
from ideamine_core.agents.rules.prd import ux_flow
from ideamine_core.domain.agent import AgentContext
from ideamine_core.errors import PathPolicyError
from ideamine_core.workspace.policy import check_path

__all__ = ["accessibility", "error_messages", "generated_files", "served_collections", "ui_review"]

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


def generated_files(ctx: AgentContext) -> list[SourceFile]:
    """The build's files as written to the workspace, by path: refused paths out, a later writer wins."""
    impl = output_of(ctx, "build", "Implementer", Implementation)
    suite = output_of(ctx, "build", "TestWriter", GeneratedTestSuite)
    written: dict[str, SourceFile] = {}
    for f in [*(impl.files if impl else []), *(suite.files if suite else [])]:
        try:
            written[check_path(f.path)] = f
        except PathPolicyError:
            continue
    return [written[p] for p in sorted(written)]


def _code(ctx: AgentContext) -> list[SourceFile]:
    return [f for f in generated_files(ctx) if f.path.endswith(".py") and not f.path.startswith("tests/")]


def error_messages(ctx: AgentContext) -> list[tuple[str, str]]:
    """('path:line', message) of every error message in the build's non-test Python files."""
    out: list[tuple[str, str]] = []
    for f in _code(ctx):
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


def _segment_rows(target: str, seg: str) -> list[IssueRow]:
    """Naming issues of one fixed path segment."""
    rows: list[IssueRow] = []
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
    if _VERBS & {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", seg)}:  # kebab or camelCase
        rows.append(
            (
                "medium",
                "naming",
                target,
                f"Segment '{seg}' contains a verb",
                "Let the HTTP method carry the verb; name the resource",
            )
        )
    return rows


def _endpoint_rows(ctx: AgentContext) -> tuple[int, list[IssueRow]]:
    eps = endpoints_of(ctx)
    rows: list[IssueRow] = []
    prefixes: dict[str, set[str]] = {}
    for ep in eps:
        target = f"{ep.method} {ep.path}"
        fixed = [s for s in ep.path.strip("/").split("/") if s and not s.startswith("{")]
        for seg in fixed:
            rows += _segment_rows(target, seg)
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


def served_collections(ctx: AgentContext) -> dict[str, str]:
    """Collection segment → 'path:line' of every route the generated code serves (its ROUTES and FEED)."""
    served: dict[str, str] = {}
    for f in _code(ctx):
        try:
            tree = ast.parse(f.content)
        except SyntaxError:
            continue
        for node in tree.body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            target = node.target if isinstance(node, ast.AnnAssign) else target
            if not isinstance(target, ast.Name) or target.id not in ("ROUTES", "FEED") or node.value is None:
                continue
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            names = list(value) if isinstance(value, dict) else [value]
            for name in (n for n in names if isinstance(n, str)):
                served.setdefault(name.strip("/"), f"{f.path}:{node.lineno}")
    return dict(sorted(served.items()))


def _served_rows(ctx: AgentContext, served: dict[str, str]) -> list[IssueRow]:
    """Naming of the routes the generated API serves, and their agreement with the API design."""
    designed = {ep.path.strip("/").split("/")[0] for ep in endpoints_of(ctx) if ep.path.strip("/")}
    rows: list[IssueRow] = []
    for seg, where in served.items():
        rows += _segment_rows(f"{where} /{seg}", seg)
        if seg not in designed:
            rows.append(
                (
                    "medium",
                    "consistency",
                    f"{where} /{seg}",
                    f"The generated API serves '/{seg}', which the API design does not name",
                    "Add it to the API design or stop serving it",
                )
            )
    for seg in sorted(designed - set(served)) if served else []:
        rows.append(
            (
                "high",
                "consistency",
                f"/{seg}",
                f"The API design names '/{seg}', which the generated API does not serve",
                "Serve it in the generated API or drop it from the design",
            )
        )
    return rows


def ui_review(ctx: AgentContext) -> UIReviewReport:
    """UIReview: naming of the designed endpoints and of the routes the generated API serves, and the
    helpfulness of its error messages."""
    checked, rows = _endpoint_rows(ctx)
    served = served_collections(ctx)
    rows += _served_rows(ctx, served)
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
    summary = (
        f"{len(issues)} issue(s) across {checked} designed endpoint(s), {len(served)} served route(s) "
        f"and {len(messages)} error message(s) of the generated code."
    )
    return UIReviewReport(
        checked_endpoints=checked,
        checked_messages=len(messages),
        issues=issues,
        summary=summary,
        notes=notes(ctx),
    )


def accessibility(ctx: AgentContext) -> AccessibilityReport:
    """Accessibility: WCAG 2.1 checks from the UX flows, traits, error messages and the build's pages."""
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
    pages = [f for f in generated_files(ctx) if is_page(f.path)]
    if pages:
        rows += [(c.guideline, c.description, c.status, c.note) for c in audit_pages(pages)]
    else:
        rows.append(
            (
                "4.1.2",
                "HTML pages of the build name their images, controls and links",
                "not_applicable",
                "The build has no HTML page (API only): nothing to inspect",
            )
        )
    checks = [
        A11yCheck(id=f"A11Y-{i + 1}", guideline=f"WCAG 2.1 {g}", description=d, status=s, note=n)  # type: ignore[arg-type]
        for i, (g, d, s, n) in enumerate(rows)
    ]
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "fail", "manual")}
    summary = f"{counts['pass']} pass, {counts['fail']} fail, {counts['manual']} to check by hand."
    return AccessibilityReport(checks=checks, summary=summary, notes=notes(ctx))
