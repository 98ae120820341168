"""Offline rules of the bizdev phase: Pricing, GoToMarket and BusinessModel."""

from __future__ import annotations

from ideamine_core.agents.outputs.bizdev import (
    BusinessModelCanvas,
    Channel,
    GoToMarketPlan,
    PricingPlan,
    Tier,
)
from ideamine_core.agents.outputs.ideation import CompetitiveLandscape, ProductStrategy
from ideamine_core.agents.rules._ctx import features, notes, output_of, segment
from ideamine_core.agents.rules._text import human, plural, unique
from ideamine_core.agents.rules.ideation import persona_set_of, tech_stack_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.agents.rules.prd import stories_of
from ideamine_core.domain.agent import AgentContext

__all__ = ["business_model", "go_to_market", "pricing"]

_BASE_PRICE: dict[str, float] = {
    "productivity": 6.0,
    "communication": 5.0,
    "commerce": 29.0,
    "health": 8.0,
    "education": 12.0,
    "finance": 7.0,
    "events": 15.0,
}


def pricing(ctx: AgentContext) -> PricingPlan:
    """Pricing: a freemium model with tiers priced by category and collaboration."""
    spec = idea_spec_of(ctx)
    feats = features(ctx.submission)
    base = _BASE_PRICE.get(spec.category, 9.0)
    stories = [s for s in stories_of(ctx) if s.action != "validate"] or stories_of(ctx)
    must = [s.title for s in stories if s.priority == "must"][:3] or [stories[0].title]
    extras = [s.title for s in stories if s.priority != "must"][:3] or ["Priority support"]
    per = "per seat" if feats.collaborative else "per user"
    tiers = [
        Tier(
            name="Free",
            price_usd_per_month=0.0,
            audience="Individuals trying it out",
            features=[*must, "Up to 3 collaborators" if feats.collaborative else "One device"],
        ),
        Tier(
            name="Team" if feats.collaborative else "Pro",
            price_usd_per_month=base,
            audience=f"Small {segment(ctx.submission)}",
            features=[*must, *extras, "Unlimited history"],
        ),
        Tier(
            name="Business",
            price_usd_per_month=round(base * 2, 2),
            audience="Organisations that need administration",
            features=["Everything in the paid tier", "SSO and audit log", "Support SLA"],
        ),
    ]
    return PricingPlan(model=f"freemium, {per} per month", tiers=tiers, notes=notes(ctx))


def go_to_market(ctx: AgentContext) -> GoToMarketPlan:
    """GoToMarket: positioning, beachhead segments, channels and launch steps."""
    sub = ctx.submission
    feats = features(sub)
    landscape = output_of(ctx, "ideation", "Competitive", CompetitiveLandscape)
    spec = idea_spec_of(ctx)
    positioning = (
        landscape.positioning
        if landscape
        else f"{spec.title}: the {spec.category} tool built for {segment(sub)}."
    )
    roles = [f"{p.role}s" for p in persona_set_of(ctx).personas]
    segments = unique([*(sub.users or ["individual users"]), *roles])
    channels = [
        Channel(name="Product-led growth", rationale="Free tier and invites spread it"),
        Channel(name="Content and SEO", rationale=f"Guides answering {segment(sub)}' questions"),
        Channel(name="Communities", rationale=f"Forums and groups where {segment(sub)} gather"),
    ]
    if feats.mobile:
        channels.append(Channel(name="App stores", rationale="Mobile-first: store search"))
    if feats.collaborative:
        channels.append(Channel(name="In-product sharing", rationale="Every share is an invite"))
    steps = [
        "Private alpha with 10 friendly users",
        "Closed beta with the personas' cohorts",
        "Public launch: landing page, launch post, community posts",
        "Weekly iteration on activation and retention",
    ]
    return GoToMarketPlan(
        positioning=positioning,
        target_segments=segments,
        channels=channels,
        launch_steps=steps,
        notes=notes(ctx),
    )


def business_model(ctx: AgentContext) -> BusinessModelCanvas:
    """BusinessModel: revenue streams, cost drivers and key metrics."""
    feats = features(ctx.submission)
    stack = tech_stack_of(ctx)
    strategy = output_of(ctx, "ideation", "Strategy", ProductStrategy)
    entity = persona_set_of(ctx).use_cases[0].entity
    revenue = ["Paid subscriptions (monthly and annual)"]
    if feats.collaborative:
        revenue.append("Seat expansion as teams grow")
    revenue.append("Business tier with administration features")
    costs = [f"Hosting ({stack.hosting})", f"Storage ({stack.storage})", "Support", "Marketing"]
    if feats.realtime:
        costs.insert(1, f"Real-time connections ({stack.realtime})")
    metrics = [
        strategy.north_star_metric if strategy else f"Weekly active users who update {plural(human(entity))}",
        "Free-to-paid conversion rate",
        "Monthly churn",
        "Customer acquisition cost vs. lifetime value",
    ]
    return BusinessModelCanvas(
        revenue_streams=revenue,
        cost_drivers=costs,
        key_metrics=metrics,
        break_even_note=(
            "Break-even when paying seats cover hosting, support and a lean team; "
            "aim for a lifetime value at least three times the acquisition cost."
        ),
        notes=notes(ctx),
    )
