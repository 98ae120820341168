"""Budget meter: a phase's tokens, tool minutes, wall-clock minutes and cost, enforced before and after calls.

Limits come from the phase YAML ``budgets:`` (None means unlimited). Usage is persisted in the
``budget_charges`` table, one row per charge keyed by (run, phase, charge key), so every worker of a
phase shares it and a resumed phase continues counting; a retried write cannot count twice.

Before a model call (:meth:`BudgetMeter.before_call`, the model caller's ``before_call`` hook) the
estimate — input tokens plus max output tokens, and its upper-bound price — is *reserved* under the
request hash, atomically with the check (one writer per phase at a time), so parallel agents cannot
all pass the same remaining budget: a call that would exceed a limit is refused with
:class:`BudgetExceededError` naming the budget, the limit and the usage. After the call
(:meth:`BudgetMeter.after_call`, the ``after_call`` hook) the reservation is replaced by the actual
usage (cache hits cost nothing), so the overshoot is at most one call's estimation error. The
wall-clock budget is checked before each call and by the heartbeat thread
(:meth:`BudgetMeter.check_wallclock`), so it overshoots by at most one heartbeat interval.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from ideamine_core.domain.phase import Budgets
from ideamine_core.errors import BudgetExceededError
from ideamine_core.resilience.leases import Clock, insert_ignore
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import BudgetChargeRow

CHARGES = BudgetChargeRow.__table__


class EstimateLike(Protocol):
    """What `before_call` reads (``ideamine_core.providers.base.CallEstimate`` fits)."""

    request_hash: str
    input_tokens: int
    max_output_tokens: int
    cost_usd: float | None


class RequestLike(Protocol):
    """One request of a call record (``RequestRecord`` fits)."""

    request_hash: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    cached: bool


class RecordLike(Protocol):
    """What `after_call` reads (``CallRecord`` fits)."""

    @property
    def requests(self) -> Sequence[RequestLike]:
        """The call's requests."""
        ...


class BudgetUsage(BaseModel):
    """What a phase has used, in the units of its budgets."""

    tokens: int = 0
    cost_usd: float = 0.0
    tools_minutes: float = 0.0
    wallclock_minutes: float = 0.0

    def over(
        self, budgets: Budgets, *, extra_tokens: int = 0, extra_cost: float = 0.0
    ) -> tuple[str, float, float] | None:
        """The first budget exceeded, as (name, limit, used), or None: tokens and cost may not go past
        their limit with an upcoming call's `extra` added; minutes are spent once they reach it."""
        checks = (
            ("tokens", self.tokens, extra_tokens),
            ("cost_usd", self.cost_usd, extra_cost),
            ("tools_minutes", self.tools_minutes, 0),
            ("wallclock_minutes", self.wallclock_minutes, 0),
        )
        for name, used, extra in checks:
            limit = getattr(budgets, name)
            if limit is None:
                continue
            # minutes are spent once they reach the limit (a limit of 0 forbids any use, not none)
            spent = used >= limit and used > 0 if name.endswith("minutes") else used + extra > limit
            if spent:
                return name, float(limit), float(used)
        return None


class BudgetMeter:
    """One phase's budgets in one run; create one per worker (they share the persisted usage)."""

    def __init__(
        self, db: Database, *, run_id: str, phase: str, budgets: Budgets, clock: Clock = time.time
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.phase = phase
        self.budgets = budgets
        self.clock = clock
        self._segment = f"wall:{uuid.uuid4().hex}"
        self._segment_start = clock()
        self._open: set[str] = set()

    # --- model calls ------------------------------------------------------------------------------

    def before_call(self, estimate: EstimateLike) -> None:
        """Reserve the call's estimate, or refuse it with BudgetExceededError if it would not fit."""
        tokens = int(estimate.input_tokens) + int(estimate.max_output_tokens)
        cost = float(estimate.cost_usd or 0.0)

        def txn(conn: Connection) -> None:
            self._lock(conn)
            usage = self._usage(conn, exclude=estimate.request_hash)
            over = usage.over(self.budgets, extra_tokens=tokens, extra_cost=cost)
            if over is not None:
                name, limit, used = over
                requested = {"tokens": tokens, "cost_usd": cost}.get(name, 0.0)
                raise BudgetExceededError(name, limit, used, phase=self.phase, requested=requested)
            self._put(conn, estimate.request_hash, "reserved", tokens=tokens, cost_usd=cost)
            self._save_wall(conn)

        self.db.write(txn)
        self._open.add(estimate.request_hash)

    def after_call(self, record: RecordLike) -> BudgetUsage:
        """Settle the call's reservations with its actual usage; BudgetExceededError if now over."""

        def txn(conn: Connection) -> BudgetUsage:
            for request in record.requests:
                if request.cached:
                    continue
                tokens = int(request.tokens_in) + int(request.tokens_out)
                self._put(
                    conn, request.request_hash, "call", tokens=tokens, cost_usd=float(request.cost_usd or 0.0)
                )
                self._open.discard(request.request_hash)
            for key in self._open:  # estimated, then failed before any usage: nothing was billed
                conn.execute(
                    sa.delete(CHARGES).where(
                        self._mine(), CHARGES.c.charge_key == key, CHARGES.c.kind == "reserved"
                    )
                )
            self._save_wall(conn)
            return self._usage(conn)

        usage = self.db.write(txn)
        self._open.clear()
        self._raise_if_over(usage)
        return usage

    # --- tools and wall-clock ------------------------------------------------------------------------

    def before_tool(self) -> None:
        """Refuse to start a tool run when the tool-minutes or wall-clock budget is used up."""
        self._raise_if_over(self.usage(save=True))

    def record_tool(self, key: str, seconds: float) -> BudgetUsage:
        """Charge a finished tool run (idempotent by `key`); BudgetExceededError if now over."""

        def txn(conn: Connection) -> BudgetUsage:
            self._put(conn, f"tool:{key}", "tool", tool_seconds=seconds)
            self._save_wall(conn)
            return self._usage(conn)

        usage = self.db.write(txn)
        self._raise_if_over(usage)
        return usage

    def check_wallclock(self) -> None:
        """For the heartbeat thread's checks: persist this worker's time, raise if the budget is spent."""
        usage = self.usage(save=True)
        limit = self.budgets.wallclock_minutes
        if limit is not None and usage.wallclock_minutes >= limit:
            raise BudgetExceededError("wallclock_minutes", limit, usage.wallclock_minutes, phase=self.phase)

    def check(self) -> None:
        """Raise BudgetExceededError if any budget is exceeded now."""
        self._raise_if_over(self.usage())

    def usage(self, *, save: bool = False) -> BudgetUsage:
        """The phase's usage so far, this worker's running time included."""
        if save:
            return self.db.write(lambda conn: (self._save_wall(conn), self._usage(conn))[1])
        return self.db.read_with_retry(self._usage)

    def remaining(self) -> dict[str, float | None]:
        """What is left of each budget (None: unlimited)."""
        used = self.usage().model_dump()
        limits = self.budgets.model_dump()
        return {k: None if limits[k] is None else max(0.0, limits[k] - used[k]) for k in limits}

    # --- storage --------------------------------------------------------------------------------------

    def _raise_if_over(self, usage: BudgetUsage) -> None:
        over = usage.over(self.budgets)
        if over is not None:
            raise BudgetExceededError(over[0], over[1], over[2], phase=self.phase)

    def _mine(self) -> Any:
        return sa.and_(CHARGES.c.run_id == self.run_id, CHARGES.c.phase == self.phase)

    def _lock(self, conn: Connection) -> None:
        """One reserving writer per phase (SQLite's BEGIN IMMEDIATE already serialises writers)."""
        if conn.dialect.name == "postgresql":
            digest = hashlib.sha256(f"budget:{self.run_id}:{self.phase}".encode()).digest()
            conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
            )

    def _put(
        self, conn: Connection, key: str, kind: str, *, created_at: float | None = None, **amounts: float
    ) -> None:
        """Insert the charge, or replace its kind and amounts (a reservation settled, a segment grown)."""
        values: dict[str, Any] = {"tokens": 0, "cost_usd": 0.0, "tool_seconds": 0.0, "wall_seconds": 0.0}
        values |= amounts
        start = self.clock() if created_at is None else created_at
        row = {
            "run_id": self.run_id,
            "phase": self.phase,
            "charge_key": key,
            "kind": kind,
            "created_at": start,
        }
        if not insert_ignore(conn, CHARGES, row | values):
            query = sa.update(CHARGES).where(self._mine(), CHARGES.c.charge_key == key)
            conn.execute(query.values(kind=kind, **values))

    def _save_wall(self, conn: Connection) -> None:
        """Persist this worker's wall-clock segment, from its start until now."""
        seconds = max(0.0, self.clock() - self._segment_start)
        self._put(conn, self._segment, "wall", created_at=self._segment_start, wall_seconds=seconds)

    def _usage(self, conn: Connection, *, exclude: str | None = None) -> BudgetUsage:
        rows = conn.execute(
            sa.select(
                CHARGES.c.charge_key,
                CHARGES.c.kind,
                CHARGES.c.tokens,
                CHARGES.c.cost_usd,
                CHARGES.c.tool_seconds,
                CHARGES.c.wall_seconds,
                CHARGES.c.created_at,
            ).where(self._mine())
        ).all()
        counted = [r for r in rows if r.charge_key != exclude]
        spans = [
            (r.created_at, r.created_at + r.wall_seconds)
            for r in counted
            if r.kind == "wall" and r.charge_key != self._segment
        ]
        spans.append((self._segment_start, max(self._segment_start, self.clock())))
        return BudgetUsage(
            tokens=sum(int(r.tokens) for r in counted),
            cost_usd=sum(float(r.cost_usd) for r in counted),
            tools_minutes=sum(float(r.tool_seconds) for r in counted) / 60,
            wallclock_minutes=_union_length(spans) / 60,
        )


def _union_length(spans: list[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total
