"""Output models of the bizdev phase: Pricing, GoToMarket and BusinessModel."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = ["BusinessModelCanvas", "Channel", "GoToMarketPlan", "PricingPlan", "Tier"]


class Tier(Strict):
    """One pricing tier."""

    name: str = Field(min_length=1, description="Tier name.")
    price_usd_per_month: float = Field(ge=0, description="Monthly price in USD (per seat if noted).")
    audience: str = Field(min_length=1, description="Who the tier is for.")
    features: list[str] = Field(min_length=1, description="What the tier includes.")


class PricingPlan(AgentOutput):
    """Pricing: pricing model and tiers."""

    model: str = Field(min_length=1, description="Pricing model, e.g. 'freemium, per seat'.")
    currency: str = Field(default="USD", description="Currency of the prices.")
    tiers: list[Tier] = Field(min_length=1, description="Tiers, cheapest first.")


class Channel(Strict):
    """One acquisition channel."""

    name: str = Field(min_length=1, description="Channel name.")
    rationale: str = Field(min_length=1, description="Why it reaches the target users.")


class GoToMarketPlan(AgentOutput):
    """GoToMarket: segments, channels and launch steps."""

    positioning: str = Field(min_length=1, description="One-line positioning.")
    target_segments: list[str] = Field(min_length=1, description="Segments, beachhead first.")
    channels: list[Channel] = Field(min_length=1, description="Acquisition channels.")
    launch_steps: list[str] = Field(min_length=1, description="Launch steps in order.")


class BusinessModelCanvas(AgentOutput):
    """BusinessModel: revenue streams, cost drivers and key metrics."""

    revenue_streams: list[str] = Field(min_length=1, description="Where money comes from.")
    cost_drivers: list[str] = Field(min_length=1, description="Where money goes.")
    key_metrics: list[str] = Field(min_length=1, description="Metrics to watch.")
    break_even_note: str = Field(min_length=1, description="Rough break-even reasoning.")
