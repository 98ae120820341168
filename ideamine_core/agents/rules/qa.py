"""Offline rules of the qa phase: TestRunner, Coverage and Performance."""

from __future__ import annotations

import ast
import re

from ideamine_core.agents.outputs.build import GeneratedTestSuite, Implementation, ScaffoldPlan
from ideamine_core.agents.outputs.prd import NFRSet
from ideamine_core.agents.outputs.qa import (
    CoveragePlan,
    ModuleTarget,
    PerfBudget,
    PerformanceBudgets,
    QATestPlan,
    SuitePlan,
)
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules.architecture import CHANGE, endpoints_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["coverage", "performance", "test_names", "test_runner"]

_TARGETS: dict[str, tuple[float, str]] = {
    "service.py": (90.0, "Business rules and validation: every branch matters"),
    "models.py": (85.0, "Data classes and field specs"),
    "api.py": (70.0, "HTTP glue; the socket handler is exercised by smoke tests"),
    "__init__.py": (100.0, "Trivial package marker"),
}


def test_names(source: str) -> list[str]:
    """Names of pytest test functions in a module: top-level test_* and Test*.test_* methods."""
    tree = ast.parse(source)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names += [
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test")
            ]
    return names


test_names.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def test_runner(ctx: AgentContext) -> QATestPlan:
    """TestRunner: the planned suites, with test functions counted by parsing TestWriter's files."""
    suite = output_of(ctx, "build", "TestWriter", GeneratedTestSuite)
    scaffold = output_of(ctx, "build", "Scaffolder", ScaffoldPlan)
    suites: list[SuitePlan] = []
    errors: list[str] = []
    for f in sorted(suite.files if suite else [], key=lambda f: f.path):
        if not f.path.endswith(".py") or not f.path.rsplit("/", 1)[-1].startswith("test"):
            continue
        try:
            names = test_names(f.content)
        except SyntaxError as exc:
            errors.append(f"{f.path}:{exc.lineno or 0}: {exc.msg}")
            continue
        suites.append(SuitePlan(path=f.path, test_count=len(names), test_names=names))
    return QATestPlan(
        command=scaffold.test_command if scaffold else "python -m pytest -q",
        suites=suites,
        total_tests=sum(s.test_count for s in suites),
        parse_errors=errors,
        notes=notes(ctx),
    )


test_runner.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def coverage(ctx: AgentContext) -> CoveragePlan:
    """Coverage: a line-coverage target per generated module, by the module's role."""
    impl = output_of(ctx, "build", "Implementer", Implementation)
    targets: list[ModuleTarget] = []
    for f in sorted(impl.files if impl else [], key=lambda f: f.path):
        if not f.path.endswith(".py") or f.path.startswith("tests/"):
            continue
        name = f.path.rsplit("/", 1)[-1]
        pct, why = _TARGETS.get(name, (80.0, "Default target for application code"))
        targets.append(ModuleTarget(module=f.path, target_percent=pct, rationale=why))
    overall = round(sum(t.target_percent for t in targets) / len(targets), 1) if targets else 80.0
    return CoveragePlan(overall_target_percent=overall, targets=targets, notes=notes(ctx))


def _ms(target: str, default: int) -> int:
    """'< 300 ms' -> 300, '< 1 s' -> 1000; `default` when it cannot be read."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(ms|s)\b", target)
    if not m:
        return default
    value = float(m.group(1)) * (1 if m.group(2) == "ms" else 1000)
    return max(1, int(value))


def performance(ctx: AgentContext) -> PerformanceBudgets:
    """Performance: latency, payload and throughput budgets per endpoint, from the NFRs."""
    feats = features(ctx.submission)
    found = output_of(ctx, "prd", "NFRs", NFRSet)
    nfrs = found.nfrs if found else []
    base = next((_ms(n.target, 300) for n in nfrs if n.category == "performance"), 300)
    live = next((_ms(n.target, 1000) for n in nfrs if n.category == "realtime"), 1000)
    list_kb = 64 if feats.mobile else 256
    rps_factor = 2 if feats.collaborative else 1
    budgets: list[PerfBudget] = []
    for ep in endpoints_of(ctx):
        item = ep.path.endswith("}")
        if ep.entity == CHANGE:
            p95, kb, rps = min(base, live // 2), list_kb, 100
        elif ep.method == "GET":
            p95, kb, rps = (base * 2 // 3, 16, 100) if item else (base, list_kb, 50)
        else:
            p95, kb, rps = (base * 2 // 3 if ep.method == "DELETE" else base), 16, 20
        budgets.append(
            PerfBudget(
                endpoint=f"{ep.method} {ep.path}",
                p95_ms=max(1, p95),
                max_payload_kb=kb,
                min_rps=rps * rps_factor,
            )
        )
    source = "the NFRs" if found else "default budgets (no NFRs upstream)"
    summary = f"{len(budgets)} budget(s) from {source}; base p95 {base} ms."
    return PerformanceBudgets(budgets=budgets, summary=summary, notes=notes(ctx))
