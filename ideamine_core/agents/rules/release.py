"""Offline rules of the release phase: ReleaseNotes, DeploymentPlan and Rollback."""

from __future__ import annotations

from ideamine_core.agents.outputs.qa import PerformanceBudgets, QATestPlan
from ideamine_core.agents.outputs.release import (
    CanaryStage,
    DeploymentPlan,
    ReleaseNotes,
    RollbackPlan,
)
from ideamine_core.agents.outputs.security import (
    DependencyReport,
    FindingsReport,
    SASTReport,
    SecretsReport,
    ThreatModelReport,
)
from ideamine_core.agents.outputs.story_loop import StoryReview
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules.architecture import endpoints_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.agents.rules.prd import stories_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["deployment_plan", "release_notes", "rollback"]

VERSION = "0.1.0"
"""Version of the first release."""

_SECURITY: tuple[tuple[str, type[FindingsReport]], ...] = (
    ("Secrets", SecretsReport),
    ("SAST", SASTReport),
    ("Dependencies", DependencyReport),
    ("ThreatModel", ThreatModelReport),
)
_SERIOUS = ("medium", "high", "critical")


def release_notes(ctx: AgentContext) -> ReleaseNotes:
    """ReleaseNotes: version 0.1.0, highlights from the stories, known issues from security/QA."""
    stories = stories_of(ctx)
    review = output_of(ctx, "story_loop", "StoryReviewer", StoryReview)
    remaining = set(review.remaining_story_ids) if review else set()
    shipped = [s for s in stories if s.id not in remaining]
    highlights = [f"{s.title} ({s.id})" for s in shipped if s.action != "validate"]
    highlights = highlights or [f"First release of {idea_spec_of(ctx).title}"]
    known: list[str] = [f"{sid} is not implemented yet" for sid in sorted(remaining)]
    for agent, model in _SECURITY:
        report = output_of(ctx, "security", agent, model)
        for f in report.findings if report else []:
            if f.severity in _SERIOUS:
                known.append(f"[{f.severity}] {f.title} ({f.location})")
    plan = output_of(ctx, "qa", "TestRunner", QATestPlan)
    known += [f"Test file does not parse: {e}" for e in (plan.parse_errors if plan else [])]
    return ReleaseNotes(
        version=VERSION,
        title=f"{idea_spec_of(ctx).title} {VERSION}",
        highlights=highlights,
        stories_included=[s.id for s in shipped],
        known_issues=known,
        notes=notes(ctx),
    )


def _health_checks(ctx: AgentContext) -> list[str]:
    reads = [ep for ep in endpoints_of(ctx) if ep.method == "GET" and not ep.path.endswith("}")]
    perf = output_of(ctx, "qa", "Performance", PerformanceBudgets)
    budgets = {b.endpoint: b.p95_ms for b in perf.budgets} if perf else {}
    checks = []
    for ep in reads[:2]:
        limit = budgets.get(f"GET {ep.path}", 300)
        checks.append(f"GET {ep.path} returns 200 within {limit} ms (p95)")
    checks.append("HTTP 5xx rate below 1%")
    if features(ctx.submission).realtime:
        checks.append("Real-time connection success rate above 99%")
    return checks


def deployment_plan(ctx: AgentContext) -> DeploymentPlan:
    """DeploymentPlan: staging, then a canary to production with health-checked stages."""
    plan = output_of(ctx, "qa", "TestRunner", QATestPlan)
    tests = (
        f"Run the test suite ({plan.command}, {plan.total_tests} tests)" if plan else ("Run the test suite")
    )
    steps = [
        f"Tag the release {VERSION} and build the container image",
        tests,
        "Deploy to staging and run the smoke checks",
        "Start the production canary (see stages)",
        "Promote to 100% and watch the health checks for one hour",
    ]
    stages = [
        CanaryStage(traffic_percent=5, duration_minutes=30, promote_if="all health checks green"),
        CanaryStage(traffic_percent=25, duration_minutes=60, promote_if="error rate below 1%"),
        CanaryStage(traffic_percent=100, duration_minutes=0, promote_if="final stage"),
    ]
    return DeploymentPlan(
        strategy="canary",
        environments=["staging", "production"],
        steps=steps,
        canary_stages=stages,
        health_checks=_health_checks(ctx),
        notes=notes(ctx),
    )


def rollback(ctx: AgentContext) -> RollbackPlan:
    """Rollback: triggers from the canary rules and health checks, and the steps to revert."""
    found = output_of(ctx, "release", "DeploymentPlan", DeploymentPlan)
    checks = found.health_checks if found else _health_checks(ctx)
    triggers = [f"Health check fails twice in a row: {c}" for c in checks]
    if found:
        triggers += [
            f"Canary at {s.traffic_percent}% does not meet: {s.promote_if}"
            for s in found.canary_stages
            if s.traffic_percent < 100
        ]
    triggers.append("A critical security finding is reported against the release")
    steps = [
        "Route all traffic back to the previous version",
        "Confirm the health checks are green on the previous version",
        "Keep the failed version's logs and metrics for the post-mortem",
        "Open an incident note with the trigger and timeline",
    ]
    data = (
        "Clients keep their local change logs; the versioned change feed lets them replay after the rollback."
        if features(ctx.submission).offline
        else "0.1.0 has no schema migration, so no data needs to be reverted."
    )
    return RollbackPlan(
        triggers=triggers,
        steps=steps,
        max_minutes_to_rollback=15,
        data_notes=data,
        notes=notes(ctx),
    )
