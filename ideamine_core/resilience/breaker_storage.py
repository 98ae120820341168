"""Shared circuit-breaker state: the ``circuit_breakers`` table, or a Redis hash per provider.

Both apply the transitions of :mod:`ideamine_core.resilience.circuit_breaker` atomically: the
database in one write transaction (row lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), Redis in
one Lua script mirroring the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ideamine_core.resilience.circuit_breaker import (
    BreakerPolicy,
    BreakerStorage,
    Snapshot,
    State,
    allow_transition,
    failure_transition,
    success_transition,
)
from ideamine_core.resilience.leases import insert_ignore
from ideamine_core.resilience.redis_heartbeats import redis_client
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import CircuitBreakerRow

BREAKERS = CircuitBreakerRow.__table__


class DatabaseBreakerStorage:
    """Breaker state in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def snapshot(self, name: str) -> Snapshot:
        """The current state (CLOSED when never written)."""
        return self.db.read_with_retry(lambda conn: self._read(conn, name, lock=False))

    def allow(self, name: str, now: float, policy: BreakerPolicy) -> tuple[Snapshot, bool]:
        """Grant or refuse a call; only a non-closed breaker takes a write transaction."""
        current = self.snapshot(name)
        if current.state is State.CLOSED:
            return current, True
        return self._apply(name, lambda s: allow_transition(s, now, policy))

    def failure(self, name: str, now: float, policy: BreakerPolicy) -> Snapshot:
        """Count a failure."""
        return self._apply(name, lambda s: (failure_transition(s, now, policy), True))[0]

    def success(self, name: str, now: float) -> Snapshot:
        """Record a success."""
        return self._apply(name, lambda s: (success_transition(s), True))[0]

    def _apply(self, name: str, step: Callable[[Snapshot], tuple[Snapshot, bool]]) -> tuple[Snapshot, bool]:
        def txn(conn: Connection) -> tuple[Snapshot, bool]:
            before = self._read(conn, name, lock=True)
            after, allowed = step(before)
            if after != before:
                values = dict(
                    state=after.state.value,
                    failures=after.failures,
                    window_started_at=after.window_started_at,
                    opened_at=after.opened_at,
                    probe_started_at=after.probe_started_at,
                    updated_at=time.time(),
                )
                conn.execute(sa.update(BREAKERS).where(BREAKERS.c.name == name).values(**values))
            return after, allowed

        return self.db.write(txn)

    @staticmethod
    def _read(conn: Connection, name: str, *, lock: bool) -> Snapshot:
        if lock:
            insert_ignore(
                conn, BREAKERS, {"name": name, "state": "closed", "failures": 0, "updated_at": time.time()}
            )
        query = sa.select(BREAKERS).where(BREAKERS.c.name == name)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return Snapshot()
        return Snapshot(
            State(row.state), row.failures, row.window_started_at, row.opened_at, row.probe_started_at
        )


# One script per transition; ARGV[1] is the operation, then now and the policy. The rules are those of
# allow_transition / failure_transition / success_transition. Returns {state, failures, window,
# opened, probe, allowed} with '' for absent times.
_TRANSITION = """
local op, now = ARGV[1], tonumber(ARGV[2])
local k, window, reset = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local h = redis.call('HGETALL', KEYS[1])
local s = {state='closed', failures='0', window='', opened='', probe=''}
for i = 1, #h, 2 do s[h[i]] = h[i + 1] end
local failures = tonumber(s.failures)
local allowed = 1
local function num(v) if v == '' then return nil end return tonumber(v) end
if op == 'allow' then
  if s.state == 'open' and now < (num(s.opened) or 0) + reset then allowed = 0
  elseif s.state == 'half_open' and num(s.probe) and now < num(s.probe) + reset then allowed = 0
  elseif s.state ~= 'closed' then s.state = 'half_open'; s.probe = ARGV[2] end
elseif op == 'failure' then
  if s.state == 'half_open' then s.state = 'open'; s.opened = ARGV[2]; s.probe = ''
  elseif s.state == 'closed' then
    if s.window == '' or now - num(s.window) > window then failures = 1; s.window = ARGV[2]
    else failures = failures + 1 end
    if failures >= k then s.state = 'open'; s.opened = ARGV[2] end
  end
elseif op == 'success' and s.state == 'half_open' then
  s.state = 'closed'; failures = 0; s.window = ''; s.opened = ''; s.probe = ''
end
redis.call('HSET', KEYS[1], 'state', s.state, 'failures', failures, 'window', s.window,
  'opened', s.opened, 'probe', s.probe)
return {s.state, tostring(failures), s.window, s.opened, s.probe, allowed}
"""


class RedisBreakerStorage:
    """Breaker state in a Redis hash per provider, changed only by one Lua script."""

    def __init__(self, client: redis.Redis, *, prefix: str = "ideamine:") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_TRANSITION)

    def _run(self, name: str, op: str, now: float, policy: BreakerPolicy | None) -> tuple[Snapshot, bool]:
        p = policy or BreakerPolicy()
        args = [op, repr(now), p.failure_threshold, repr(p.window_seconds), repr(p.reset_timeout)]
        out = [
            v.decode() if isinstance(v, bytes) else v for v in self._script(keys=[self._key(name)], args=args)
        ]
        return _snapshot(out[0], out[1], out[2], out[3], out[4]), bool(int(out[5]))

    def _key(self, name: str) -> str:
        return f"{self.prefix}breaker:{name}"

    def snapshot(self, name: str) -> Snapshot:
        """The current state (CLOSED when never written)."""
        raw = {k.decode(): v.decode() for k, v in self.client.hgetall(self._key(name)).items()}
        if not raw:
            return Snapshot()
        return _snapshot(raw["state"], raw["failures"], raw["window"], raw["opened"], raw["probe"])

    def allow(self, name: str, now: float, policy: BreakerPolicy) -> tuple[Snapshot, bool]:
        """Grant or refuse a call."""
        return self._run(name, "allow", now, policy)

    def failure(self, name: str, now: float, policy: BreakerPolicy) -> Snapshot:
        """Count a failure."""
        return self._run(name, "failure", now, policy)[0]

    def success(self, name: str, now: float) -> Snapshot:
        """Record a success."""
        return self._run(name, "success", now, None)[0]


def _snapshot(state: str, failures: str, window: str, opened: str, probe: str) -> Snapshot:
    def num(v: str) -> float | None:
        return float(v) if v else None

    return Snapshot(State(state), int(failures), num(window), num(opened), num(probe))


def breaker_storage(
    db: Database, redis_url: str | None = None, *, prefix: str = "ideamine:"
) -> BreakerStorage:
    """Redis when `redis_url` is set (ServiceUnavailableError if it is down), else the database."""
    if redis_url:
        client = redis_client(redis_url, required=True)
        assert client is not None  # required=True raises instead
        return RedisBreakerStorage(client, prefix=prefix)
    return DatabaseBreakerStorage(db)
