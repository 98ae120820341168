"""Redis backend of the heartbeat store: beats in keys with a TTL, tokens and leases in the database.

Each beat runs one Lua script that refuses a token older than the one the key holds. The database
stays the source of truth: a key Redis does not have (new, expired, or lost in a Redis restart) is
re-created only after a fenced database beat, and the database lease is renewed every ``ttl / 2`` so
the supervisor can confirm a stall there. When Redis is unreachable, beats go to the database; the
supervisor then judges on database data with an allowance for its renewal lag, and gives no stall
verdict until Redis has been back for a grace period (RELIABILITY decision 7).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.engine import Connection

from ideamine_core.errors import ServiceUnavailableError, StaleFencingTokenError
from ideamine_core.resilience.heartbeats import BeatState, BeatStats, StoreHealth, leased_rows, note_rejection
from ideamine_core.resilience.leases import MAX_SAMPLES, Clock, Lease, LeaseTable
from ideamine_core.storage.database import Database, redact_url

log = logging.getLogger(__name__)

# KEYS: beat hash, samples list. ARGV: token, owner, beat_at, progress|'', interval, run_id, phase,
# ttl_ms, max_samples, create ('1' creates a missing key, '0' reports it with -1).
# Returns 0 when written, -1 when the key is missing and create is '0', else the newer token it holds.
_BEAT = """
local cur = redis.call('HGET', KEYS[1], 'token')
local mine = tonumber(ARGV[1])
if not cur then
  if ARGV[10] ~= '1' then return -1 end
  redis.call('DEL', KEYS[2])
elseif tonumber(cur) > mine then
  return tonumber(cur)
elseif tonumber(cur) < mine then
  redis.call('DEL', KEYS[1], KEYS[2])
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'owner', ARGV[2], 'beat_at', ARGV[3], 'progress', ARGV[4],
  'interval', ARGV[5], 'run_id', ARGV[6], 'phase', ARGV[7])
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if ARGV[4] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3] .. ' ' .. ARGV[4])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[9]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
end
return 0
"""

# KEYS: beat hash, samples list. ARGV: new token, ttl_ms. Leaves a tombstone holding the new token.
_TOMBSTONE = """
local cur = redis.call('HGET', KEYS[1], 'token')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'revoked', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def redis_client(url: str, *, required: bool = True, timeout: float = 1.0) -> redis.Redis | None:
    """A connected client for `url`; ServiceUnavailableError (or None if not `required`) when down."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if not required:
            log.warning("Redis at %s is unreachable (%s): heartbeats use the database", redact_url(url), exc)
            return None
        raise ServiceUnavailableError(
            f"cannot reach Redis at {redact_url(url)} for heartbeats ({type(exc).__name__}: {exc})",
            fix="start Redis, or unset REDIS_URL to keep heartbeats in the database",
        ) from exc
    return client


class RedisHeartbeatStore:
    """Heartbeats in Redis keys with a TTL; leases and fencing tokens in the database."""

    def __init__(
        self,
        db: Database,
        client: redis.Redis,
        *,
        prefix: str = "ideamine:",
        clock: Clock = time.time,
        key_ttl: float = 600.0,
    ) -> None:
        self.db = db
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.key_ttl_ms = int(key_ttl * 1000)
        self.leases = LeaseTable(db, clock=clock)
        self.stats = BeatStats()
        self._beat_script = client.register_script(_BEAT)
        self._tombstone_script = client.register_script(_TOMBSTONE)
        self._synced: dict[tuple[str, int], float] = {}
        self._skip_redis_until = 0.0
        self._trouble_at: float | None = None

    def _keys(self, task_id: str) -> list[str]:
        return [f"{self.prefix}hb:{task_id}", f"{self.prefix}hbs:{task_id}"]

    def _trouble(self, exc: BaseException, pause: float) -> None:
        now = self.clock()
        if self._trouble_at is None or now - self._trouble_at > pause:
            log.warning("Redis heartbeat store unavailable (%s); using the database", exc)
        self._trouble_at = now
        self._skip_redis_until = now + pause

    def _write_key(self, lease: Lease, at: float, progress: float | None, *, create: bool) -> int:
        args = [lease.token, lease.owner, repr(at), "" if progress is None else repr(progress)]
        args += [repr(lease.interval), lease.run_id, lease.phase, self.key_ttl_ms, MAX_SAMPLES, int(create)]
        return int(self._beat_script(keys=self._keys(lease.task_id), args=args))

    def _seed(self, lease: Lease) -> None:
        try:
            self._write_key(lease, self.clock(), None, create=True)
        except redis.RedisError as exc:
            self._trouble(exc, lease.interval)

    def acquire(
        self,
        task_id: str,
        owner: str,
        ttl: float,
        *,
        run_id: str | None = None,
        phase: str | None = None,
        agent: str = "",
        interval: float | None = None,
    ) -> Lease:
        """Take the task's lease in the database, then mirror it in Redis (best effort)."""
        lag = _lag(ttl, interval)
        lease = self.leases.acquire(
            task_id, owner, ttl, run_id=run_id, phase=phase, agent=agent, interval=interval, lag=lag
        )
        self._synced[(task_id, lease.token)] = self.clock()
        self._seed(lease)
        return lease

    def beat(self, lease: Lease, progress: float | None = None, *, at: float | None = None) -> bool:
        """Beat in Redis; the database confirms unknown keys, takes over when Redis is down, and is
        renewed every ttl/2. StaleFencingTokenError when fenced out."""
        when = self.clock() if at is None else at
        if self.clock() < self._skip_redis_until:
            self.stats.fallbacks += 1
            return self._db_beat(lease, when, progress)
        try:
            status = self._write_key(lease, when, progress, create=False)
        except redis.RedisError as exc:
            self._trouble(exc, lease.interval)
            self.stats.fallbacks += 1
            return self._db_beat(lease, when, progress)
        if status > 0:
            error = StaleFencingTokenError(lease.task_id, lease.token, status)
            note_rejection(self.stats, error)
            raise error
        if status == -1:
            ok = self._db_beat(lease, when, progress)
            if ok:
                self._restore(lease, when, progress)
            return ok
        self.stats.beats += 1
        if self.clock() - self._synced.get((lease.task_id, lease.token), 0.0) >= lease.ttl / 2:
            return self._db_beat(lease, when, progress)
        return True

    def _restore(self, lease: Lease, at: float, progress: float | None) -> None:
        """Re-create a key Redis lost, now that the database confirmed the lease is current."""
        try:
            if self._write_key(lease, at, progress, create=True) == 0:
                self.stats.restored += 1
        except redis.RedisError as exc:
            self._trouble(exc, lease.interval)

    def _db_beat(self, lease: Lease, at: float, progress: float | None) -> bool:
        try:
            lag = _lag(lease.ttl, lease.interval)
            ok = self.db.write(lambda conn: self.leases.renew(conn, lease, at, progress, lag=lag))
        except StaleFencingTokenError as exc:
            note_rejection(self.stats, exc)
            raise
        self._synced[(lease.task_id, lease.token)] = self.clock()
        return ok

    def release(self, lease: Lease, *, status: str | None = None) -> bool:
        """Give the lease up in the database and drop its Redis keys."""
        released = self.leases.release(lease, status=status)
        self._synced.pop((lease.task_id, lease.token), None)
        try:
            self.client.delete(*self._keys(lease.task_id))
        except redis.RedisError as exc:
            self._trouble(exc, lease.interval)
        return released

    def take_over(self, task_id: str, owner: str, ttl: float, *, interval: float | None = None) -> Lease:
        """Take the lease from its holder (fenced out by the new token) and mirror it in Redis."""
        lease = self.leases.acquire(
            task_id, owner, ttl, interval=interval, force=True, lag=_lag(ttl, interval)
        )
        self._synced[(task_id, lease.token)] = self.clock()
        self._seed(lease)
        return lease

    def revoke(
        self,
        task_id: str,
        expected_token: int,
        *,
        status: str = "stalled",
        also: Callable[[Connection, int], None] | None = None,
    ) -> int | None:
        """Compare-and-set in the database, then leave a tombstone with the new token in Redis."""
        token = self.leases.revoke(task_id, expected_token, status=status, also=also)
        if token is not None:
            try:
                self._tombstone_script(keys=self._keys(task_id), args=[token, self.key_ttl_ms])
            except redis.RedisError as exc:
                self._trouble(exc, 1.0)
        return token

    def live(self, now: float | None = None) -> list[BeatState]:
        """Leased tasks from the database, with their beats from Redis where Redis has them."""
        rows = self.db.read_with_retry(leased_rows)
        try:
            pipe = self.client.pipeline(transaction=False)
            for row in rows:
                key, samples = self._keys(row.task_id)
                pipe.hgetall(key)
                pipe.lrange(samples, 0, -1)
            found = pipe.execute() if rows else []
        except redis.RedisError as exc:
            self._trouble(exc, 1.0)
            found = []
        states = []
        for i, row in enumerate(rows):
            data, samples = (found[2 * i], found[2 * i + 1]) if found else ({}, [])
            states.append(_merge(row, data, samples))
        return states

    def health(self, now: float | None = None) -> StoreHealth:
        """Redis answers and holds our epoch marker; else the time it came back, for the grace period."""
        now = self.clock() if now is None else now
        marker = f"{self.prefix}hb-epoch"
        try:
            run_id = str(self.client.info("server").get("run_id", ""))
            seen = self.client.get(marker)
            if seen is None or seen.decode().split(" ")[0] != run_id:
                self.client.set(marker, f"{run_id} {now!r}")
                seen = f"{run_id} {now!r}".encode()
        except redis.RedisError as exc:
            self._trouble(exc, 1.0)
            return StoreHealth(ok=False, detail=f"Redis unreachable: {type(exc).__name__}")
        since = float(seen.decode().split(" ")[1])
        if self._trouble_at is not None:
            since = max(since, self._trouble_at)
        return StoreHealth(ok=True, recovered_at=since, detail=f"Redis data complete since {since:.3f}")


def _merge(row: Any, data: dict[bytes, bytes], samples: list[bytes]) -> BeatState:
    """One task's state: the Redis beat when Redis has this lease's key, else the database's."""
    token, interval, db_beat = int(row.fencing_token), float(row.interval_seconds), float(row.beat_at)
    base = dict(
        task_id=row.task_id,
        run_id=row.run_id,
        phase=row.phase,
        owner=row.lease_owner,
        token=token,
        interval=interval,
    )
    if data.get(b"token") == str(token).encode() and b"beat_at" in data:
        progress = data.get(b"progress") or b""
        return BeatState(
            **base,
            beat_at=max(db_beat, float(data[b"beat_at"])),
            progress=float(progress) if progress else None,
            samples=tuple(_sample(s) for s in samples),
            source="redis",
        )
    return BeatState(
        **base,
        beat_at=db_beat,
        progress=row.progress,
        samples=tuple((float(t), float(p)) for t, p in row.samples or ()),
        lag=float(row.lag_seconds),
        source="database",
    )


def _lag(ttl: float, interval: float | None) -> float:
    """How far the database beat may trail the last Redis beat: one renewal period plus one interval."""
    return ttl / 2 + (interval if interval is not None else ttl / 3)


def _sample(raw: bytes) -> tuple[float, float]:
    at, progress = raw.decode().split(" ")
    return float(at), float(progress)
