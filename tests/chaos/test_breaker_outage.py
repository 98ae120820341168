"""RELIABILITY 12 at library level: two worker processes call a local HTTP provider through circuit
breakers that share their state (in Redis, or in the database). The provider answers 503 for a while,
then recovers: the breaker opens after K failures, both workers see OPEN within one poll, the provider
gets at most one probe per reset timeout while open, and the breaker closes soon after recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from resilience_scenarios import breaker_outage

from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


def _check(figures: dict[str, float]) -> None:
    assert figures["time_to_open_s"] < 1.0
    assert figures["both_saw_open_within_s"] <= figures["poll_s"] + 0.1
    assert figures["requests_while_open"] <= figures["probe_bound"]
    assert figures["time_to_close_s"] <= figures["reset_timeout_s"] + figures["poll_s"] + 0.3


def test_breaker_shared_through_redis(redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    figures = breaker_outage(tmp_path, redis_url=redis_url, prefix=redis_prefix, outage=1.5)
    print(f"\nRELIABILITY 12 (Redis): {figures}")
    _check(figures)


def test_breaker_shared_through_the_database(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    db.setup()
    figures = breaker_outage(tmp_path, db_url=db.url, outage=1.5)
    print(f"\nRELIABILITY 12 (database): {figures}")
    _check(figures)
