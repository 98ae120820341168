"""Response cache keyed by request hash, in the project database (`model_calls`): resume and replay.

Write-ahead: a response is persisted before anything uses it, so a completed call is never paid for
twice; errors are never stored. Two processes sending the same request coordinate through a claim:
the first inserts a `pending` row (owner, expiry) and calls the provider, the others wait for the row
to turn `done`. A claim whose owner died (same host, process gone) or whose expiry passed is taken over.
Rows hold JSON text inside a small envelope, so any output (even NUL characters) round-trips exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import ModelCallRow

PENDING, DONE = "pending", "done"
_TABLE = ModelCallRow.__table__
_HOST = socket.gethostname()


class CacheMode(StrEnum):
    """How calls use the cache: read and write (default), replay (read only, a miss is an error), off."""

    READ_WRITE = "read_write"
    REPLAY = "replay"
    OFF = "off"


@dataclass(frozen=True)
class CallMeta:
    """Who makes a call, stored beside the response for inspection (not part of the key)."""

    provider: str
    model: str
    run_id: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class CachedResponse:
    """A completed call: the response as JSON text and what it cost when it was made."""

    request_hash: str
    response_text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    latency_ms: float | None


@dataclass(frozen=True)
class Claim:
    """Outcome of claiming a request: ours to call, already done, or busy in another worker."""

    status: Literal["claimed", "done", "busy"]
    cached: CachedResponse | None = None


def new_owner() -> str:
    """A claim owner id: host, process and a random token."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, rest = (owner or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _row(request_hash: str, meta: CallMeta, request_text: str) -> dict[str, Any]:
    return {
        "request_hash": request_hash,
        "provider": meta.provider[:64],
        "model": meta.model[:200],
        "run_id": meta.run_id,
        "agent": (meta.agent or "")[:64] or None,
        "request": {"text": request_text},
        "created_at": time.time(),
    }


def _cached(row: Any) -> CachedResponse:
    return CachedResponse(
        request_hash=row.request_hash,
        response_text=row.response["text"],
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
    )


class ResponseCache:
    """The `model_calls` table as a write-ahead response cache with cross-process claims."""

    def __init__(
        self,
        db: Database | Callable[[], Database],
        *,
        claim_seconds: float = 330.0,
        poll_seconds: float = 0.05,
    ) -> None:
        """`db` may be a function opening it on first use (offline runs never touch it); `claim_seconds`
        bounds how long a claim keeps other workers waiting (at least one request's timeout)."""
        self._db = db
        self.claim_seconds = claim_seconds
        self.poll_seconds = poll_seconds

    @property
    def db(self) -> Database:
        """The database, opened on first use."""
        if not isinstance(self._db, Database):
            self._db = self._db()
        return self._db

    def get(self, request_hash: str) -> CachedResponse | None:
        """The completed response for `request_hash`, or None."""

        def _read(conn: Connection) -> CachedResponse | None:
            row = conn.execute(sa.select(_TABLE).where(_TABLE.c.request_hash == request_hash)).first()
            return _cached(row) if row is not None and row.status == DONE else None

        return self.db.read_with_retry(_read)

    def claim(self, request_hash: str, owner: str, meta: CallMeta, request_text: str) -> Claim:
        """Claim `request_hash` for `owner` unless it is done or validly claimed by someone else."""
        now = time.time()
        values = _row(request_hash, meta, request_text) | {
            "status": PENDING,
            "claim_owner": owner,
            "claim_expires_at": now + self.claim_seconds,
        }

        def _claim(conn: Connection) -> Claim:
            if conn.execute(self._insert_new(values)).rowcount == 1:
                return Claim("claimed")
            query = sa.select(_TABLE).where(_TABLE.c.request_hash == request_hash)
            row = conn.execute(query.with_for_update() if not self.db.is_sqlite else query).first()
            if row is None:  # released between our insert and select: try again
                conn.execute(sa.insert(_TABLE).values(**values))
                return Claim("claimed")
            if row.status == DONE:
                return Claim("done", _cached(row))
            expired = (row.claim_expires_at or 0) <= now
            if row.claim_owner == owner or expired or _owner_is_dead(row.claim_owner):
                update = {"claim_owner": owner, "claim_expires_at": values["claim_expires_at"]}
                conn.execute(sa.update(_TABLE).where(_TABLE.c.request_hash == request_hash).values(**update))
                return Claim("claimed")
            return Claim("busy")

        return self.db.write(_claim)

    def _insert_new(self, values: dict[str, Any]) -> Any:
        dialect = sqlite if self.db.is_sqlite else postgresql
        return dialect.insert(_TABLE).values(**values).on_conflict_do_nothing(index_elements=["request_hash"])

    async def acquire(
        self, request_hash: str, owner: str, meta: CallMeta, request_text: str
    ) -> CachedResponse | None:
        """The cached response, waiting while another worker holds the claim; None: the call is ours."""
        while True:
            claim = self.claim(request_hash, owner, meta, request_text)
            if claim.status == "claimed":
                return None
            if claim.status == "done":
                return claim.cached
            await asyncio.sleep(self.poll_seconds)

    def complete(
        self,
        request_hash: str,
        meta: CallMeta,
        request_text: str,
        response_text: str,
        *,
        tokens_in: int,
        tokens_out: int,
        cost_usd: float | None,
        latency_ms: float,
    ) -> None:
        """Persist a response (write-ahead: before anyone uses it); the first completion wins."""
        values = {
            "status": DONE,
            "response": {"text": response_text},
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost_usd,
            "latency_ms": latency_ms,
            "claim_owner": None,
            "claim_expires_at": None,
        }

        def _complete(conn: Connection) -> None:
            target = _TABLE.c.request_hash == request_hash
            done = conn.execute(sa.update(_TABLE).where(target, _TABLE.c.status == PENDING).values(**values))
            if done.rowcount == 0:  # our claim vanished (taken over and released): store it anyway
                conn.execute(self._insert_new(_row(request_hash, meta, request_text) | values))

        self.db.write(_complete)

    def release(self, request_hash: str, owner: str) -> None:
        """Drop `owner`'s pending claim after a failed call (errors are never cached)."""

        def _release(conn: Connection) -> None:
            conn.execute(
                sa.delete(_TABLE).where(
                    _TABLE.c.request_hash == request_hash,
                    _TABLE.c.status == PENDING,
                    _TABLE.c.claim_owner == owner,
                )
            )

        self.db.write(_release)

    def stored_request(self, request_hash: str) -> dict[str, Any] | None:
        """The canonical request stored for `request_hash` (for inspection and tests)."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_TABLE.c.request).where(_TABLE.c.request_hash == request_hash)
            ).first()
        return json.loads(row.request["text"]) if row is not None else None
