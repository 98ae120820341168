"""Offline rules of the beta phase: BetaPlanner and FeedbackSynth."""

from __future__ import annotations

from ideamine_core.agents.outputs.beta import BetaPlan, Cohort, FeedbackChannel, FeedbackPlan
from ideamine_core.agents.outputs.ideation import ProductStrategy
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules._text import slug
from ideamine_core.agents.rules.ideation import persona_set_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["beta_planner", "feedback_synth"]


def beta_planner(ctx: AgentContext) -> BetaPlan:
    """BetaPlanner: one cohort per persona, a duration by difficulty and success metrics."""
    personas = persona_set_of(ctx).personas
    cohorts = [
        Cohort(
            name=f"Cohort {i + 1}: {p.role}s",
            persona=p.name,
            size=5 if "lead" in p.role else 10,
            selection=f"{p.segment} who act as {p.role}s, recruited from the waitlist",
        )
        for i, p in enumerate(personas)
    ]
    hard = len(idea_spec_of(ctx).feasibility.hard_parts)
    strategy = output_of(ctx, "ideation", "Strategy", ProductStrategy)
    metrics = [
        f"{strategy.north_star_metric}: 60% of participants by week 3"
        if strategy
        else "60% of participants active every week by week 3",
        "Core flows completed without help: 80% or more",
        "Crash-free sessions: 99% or more",
    ]
    if features(ctx.submission).offline:
        metrics.append("Offline edits synced without conflict: 99% or more")
    exit_criteria = [
        "Every 'must' story accepted by beta users",
        "No open high or critical security finding",
        "Success metrics met two weeks in a row",
    ]
    return BetaPlan(
        duration_weeks=4 + (2 if hard >= 3 else 0),
        cohorts=cohorts,
        success_metrics=metrics,
        exit_criteria=exit_criteria,
        notes=notes(ctx),
    )


def feedback_synth(ctx: AgentContext) -> FeedbackPlan:
    """FeedbackSynth: feedback channels, tags from the use cases and a weekly synthesis."""
    feats = features(ctx.submission)
    channels = [
        FeedbackChannel(
            name="In-app feedback button",
            cadence="daily triage",
            purpose="Bugs and friction in context",
        ),
        FeedbackChannel(
            name="Weekly interview per cohort",
            cadence="weekly",
            purpose="The why behind the numbers",
        ),
        FeedbackChannel(
            name="Usage analytics",
            cadence="weekly",
            purpose="Which flows are used, where people drop off",
        ),
    ]
    if feats.mobile:
        channels.append(
            FeedbackChannel(
                name="Beta app store reviews",
                cadence="weekly",
                purpose="Mobile-first: device-specific issues",
            )
        )
    tags = [slug(uc.title, max_words=3) for uc in persona_set_of(ctx).use_cases]
    tags += ["bug", "performance", "accessibility"]
    steps = [
        "Tag every item with a use case or a cross-cutting tag",
        "Count items per tag and per cohort; link each to its persona",
        "Pick the top three themes by frequency times severity",
        "Turn each theme into a story or a fix with an owner",
        "Report back to the cohorts what changed",
    ]
    return FeedbackPlan(
        channels=channels,
        synthesis_steps=steps,
        tags=sorted(set(tags)),
        review_cadence="Weekly synthesis review, Fridays",
        notes=notes(ctx),
    )
