"""Totals of call records per agent and per phase: what the Dagster metadata and reports show."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.providers.base import CallRecord


class UsageTotals(BaseModel):
    """Summed accounting of some calls (cost None as soon as one paid request had no known price)."""

    model_config = ConfigDict(extra="forbid")

    calls: int = 0
    requests: int = Field(default=0, description="Model requests, cached ones included.")
    cached_requests: int = 0
    tokens_in: int = Field(default=0, description="Paid input tokens (cache hits count zero).")
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_ms: float = 0.0
    repair_attempts: int = 0
    retries: int = 0
    fallback_steps: int = 0
    failed_calls: int = 0

    def add(self, record: CallRecord) -> UsageTotals:
        """These totals plus one record (a new object)."""
        cost = None if self.cost_usd is None or record.cost_usd is None else self.cost_usd + record.cost_usd
        return UsageTotals(
            calls=self.calls + 1,
            requests=self.requests + len(record.requests),
            cached_requests=self.cached_requests + sum(r.cached for r in record.requests),
            tokens_in=self.tokens_in + record.tokens_in,
            tokens_out=self.tokens_out + record.tokens_out,
            cost_usd=None if cost is None else round(cost, 9),
            latency_ms=round(self.latency_ms + record.latency_ms, 3),
            repair_attempts=self.repair_attempts + record.repair_attempts,
            retries=self.retries + record.retries,
            fallback_steps=self.fallback_steps + len(record.fallback_steps),
            failed_calls=self.failed_calls + (record.outcome != "ok"),
        )


def usage_totals(records: Iterable[CallRecord | None]) -> UsageTotals:
    """Totals over `records` (None entries, e.g. results loaded from JSON, are skipped)."""
    totals = UsageTotals()
    for record in records:
        if record is not None:
            totals = totals.add(record)
    return totals


def usage_by_agent(records: Iterable[CallRecord | None]) -> dict[str, UsageTotals]:
    """Totals per agent name, sorted by name."""
    grouped: dict[str, UsageTotals] = {}
    for record in records:
        if record is not None:
            grouped[record.agent] = grouped.get(record.agent, UsageTotals()).add(record)
    return dict(sorted(grouped.items()))
