"""Coverage guard: the share of items a phase must cover that its typed outputs do cover.

What "covered" means is phase-specific (every use case traced to a story, personas within a
range, every entity with code, …) and lives in `coverage_product` and `coverage_delivery`; each
gap becomes a reason naming it and the agents that own it, which is what the coverage fix re-runs.
"""

from __future__ import annotations

from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.guards import coverage_delivery as delivery
from ideamine_core.phase.guards import coverage_product as product
from ideamine_core.phase.guards.base import GuardInput, share_result
from ideamine_core.phase.guards.coverage_checks import Check, Rule, agents_present

RULES: dict[str, Rule] = {
    "intake": product.intake_rule,
    "ideation": product.ideation_rule,
    "critique": product.critique_rule,
    "prd": product.prd_rule,
    "bizdev": product.bizdev_rule,
    "beta": product.beta_rule,
    "architecture": delivery.architecture_rule,
    "build": delivery.build_rule,
    "story_loop": delivery.story_loop_rule,
    "aesthetic": delivery.aesthetic_rule,
    "qa": delivery.qa_rule,
    "release": delivery.release_rule,
}
"""Coverage rule of each default phase; other phases fall back to `agents_present`."""


def coverage_checks(spec: GuardSpec, data: GuardInput) -> list[Check]:
    """The phase's coverage checks (every configured agent's output present, when no rule is known)."""
    rule = RULES.get(data.config.phase, agents_present)
    return rule(spec, data)


def coverage(spec: GuardSpec, data: GuardInput) -> GuardResult:
    """Share of required items covered; each gap is a reason naming the item and its owners."""
    checks = coverage_checks(spec, data)
    covered = sum(1 for c in checks if c.ok)
    reasons = [
        GateReason(code="coverage", item=c.item, detail=c.detail, agents=list(c.owners))
        for c in checks
        if not c.ok
    ]
    metrics = {"items_required": float(len(checks)), "items_covered": float(covered)}
    return share_result(spec, covered / len(checks) if checks else 0.0, reasons, metrics)
