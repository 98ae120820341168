"""Fixtures of the resilience tests: a manual clock and the heartbeat store on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from resilience_helpers import ManualClock

from ideamine_core.resilience.heartbeats import DatabaseHeartbeatStore, HeartbeatStore
from ideamine_core.resilience.redis_heartbeats import RedisHeartbeatStore
from ideamine_core.storage.database import Database


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock for stores that take a `clock`."""
    return ManualClock()


@pytest.fixture(params=["database", "redis"])
def hb_store(request: pytest.FixtureRequest, db: Database, clock: ManualClock) -> Iterator[HeartbeatStore]:
    """The heartbeat store on each backend (Redis keeps tokens in the same database)."""
    if request.param == "database":
        yield DatabaseHeartbeatStore(db, clock=clock)
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(url, socket_timeout=2)
    yield RedisHeartbeatStore(db, client, prefix=prefix, clock=clock)
    client.close()
