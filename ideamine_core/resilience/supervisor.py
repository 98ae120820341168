"""Supervisor: find stalled and flat-progress tasks and dead runs, and choose an unsticker per failure.

:meth:`Supervisor.tick` (what the Dagster sensor calls) reads the heartbeat store. A task whose last
beat is N intervals old (``heartbeat.stall_threshold``, plus the store's lag allowance) is stalled; a
task whose progress samples stayed flat over the slope window made no progress. Either way the
supervisor revokes the task's lease with a compare-and-set on its fencing token — so the stalled
worker is fenced out and only one supervisor ever wins a given stall — and records the decision in
the same transaction (an outbox), then hands it to `emit`. A decision whose `emit` failed is handed
over again at the next tick; its `decision_id` makes the ledger entry idempotent.

:meth:`Supervisor.decide` does the same for failures the lead reports (rate limit, model errors,
context too long, budget, gate), and :meth:`Supervisor.dead_runs` lists runs marked running whose
tasks all stopped beating (Dagster leaves those STARTED when the whole process tree died).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.resilience.checkpoints import CheckpointStore
from ideamine_core.resilience.dead_runs import DeadRun, find_dead_runs
from ideamine_core.resilience.decisions import Decision, Failure, FailureMode, Strategy
from ideamine_core.resilience.heartbeats import BeatState, HeartbeatStore, StoreHealth
from ideamine_core.resilience.leases import Clock, insert_ignore
from ideamine_core.resilience.slope import is_flat
from ideamine_core.resilience.unstickers import (
    DEFAULT_STRATEGIES,
    AgentStrategy,
    backoff_delay,
    budget_report,
    escalation,
    kill_local_owner,
    next_model,
    retry_from_checkpoint,
    switch_strategy,
)
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import SupervisorDecisionRow

log = logging.getLogger(__name__)
OUTBOX = SupervisorDecisionRow.__table__
Emit = Callable[[Decision], None]


class SupervisorPolicy(BaseModel):
    """Thresholds of the supervisor (defaults from SPEC section 9; per phase from the YAML)."""

    model_config = ConfigDict(frozen=True)

    stall_threshold: int = Field(default=3, ge=1, description="Missed beats that mean a stall.")
    phase_thresholds: dict[str, int] = Field(default_factory=dict, description="Per phase (heartbeat YAML).")
    flat_intervals: float = Field(default=10, gt=0, description="Slope window, in heartbeat intervals.")
    min_slope: float = Field(default=0.0, description="Progress per second at or below which it is flat.")
    min_samples: int = Field(default=3, ge=2)
    model_error_threshold: int = Field(default=3, ge=1, description="K model errors before falling back.")
    backoff_base: float = Field(default=1.0, ge=0)
    backoff_cap: float = Field(default=300.0, ge=0)
    default_chunk_tokens: int = Field(default=4000, ge=1)
    kill_local_workers: bool = Field(
        default=False,
        description="SIGKILL a stalled worker on this host (owner 'host:pid:thread') before fencing it out: "
        "on one machine a process paused inside a transaction holds locks every writer waits for.",
    )

    @classmethod
    def from_configs(cls, configs: Iterable[PhaseConfig], **overrides: Any) -> SupervisorPolicy:
        """A policy with each phase's ``heartbeat.stall_threshold`` from its YAML."""
        return cls(phase_thresholds={c.phase: c.heartbeat.stall_threshold for c in configs}, **overrides)

    def threshold(self, phase: str) -> int:
        """Missed beats that mean a stall in `phase`."""
        return self.phase_thresholds.get(phase, self.stall_threshold)


class UnstickContext(BaseModel):
    """What the lead knows about the failing task that some unstickers need."""

    model: str | None = None
    ladder: list[str] = Field(default_factory=list, description="Models, first choice to cheapest.")
    strategy: str | None = Field(default=None, description="The agent strategy in use (None: default).")
    strategies: list[AgentStrategy] = Field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    max_input_tokens: int | None = Field(default=None, description="Chunk size for a context-length error.")


class TickReport(BaseModel):
    """What one supervisor tick saw and did."""

    checked: int
    decisions: list[Decision]
    health: dict[str, Any]
    in_grace: int = 0


class Supervisor:
    """Detect stalls, flat progress and dead runs; choose, record and emit an unsticker decision."""

    def __init__(
        self,
        store: HeartbeatStore,
        *,
        db: Database | None = None,
        policy: SupervisorPolicy | None = None,
        emit: Emit | None = None,
        checkpoints: CheckpointStore | None = None,
        clock: Clock = time.time,
        reclaim_after: float = 60.0,
    ) -> None:
        self.store = store
        self.db: Database = db if db is not None else store.db
        self.policy = policy or SupervisorPolicy()
        self.emit = emit
        self.checkpoints = checkpoints or CheckpointStore(self.db, clock=clock)
        self.clock = clock
        self.reclaim_after = reclaim_after

    # --- heartbeats -----------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> TickReport:
        """One pass: re-emit pending decisions, then judge every leased task."""
        self.flush()
        health = self.store.health(now)
        now = self.clock() if now is None else now
        beats = self.store.live(now)
        decisions, in_grace = [], 0
        for beat in beats:
            if self._in_grace(beat, health, now):
                in_grace += 1
                continue
            verdict = self._verdict(beat, now)
            if verdict is not None and (decision := self._act(beat, *verdict, now=now)) is not None:
                decisions.append(decision)
        report = {"ok": health.ok, "recovered_at": health.recovered_at, "detail": health.detail}
        return TickReport(checked=len(beats), decisions=decisions, health=report, in_grace=in_grace)

    def _in_grace(self, beat: BeatState, health: StoreHealth, now: float) -> bool:
        """Live data that just came back (Redis restarted) gets N + 1 intervals to refill."""
        if beat.source == "database" or health.recovered_at is None:
            return False
        return now < health.recovered_at + (self.policy.threshold(beat.phase) + 1) * beat.interval

    def _verdict(self, beat: BeatState, now: float) -> tuple[FailureMode, dict[str, Any]] | None:
        n = self.policy.threshold(beat.phase)
        age = beat.age(now)
        evidence: dict[str, Any] = {
            "owner": beat.owner,
            "fencing_token": beat.token,
            "interval_seconds": beat.interval,
            "stall_threshold": n,
            "last_beat_at": beat.beat_at,
            "age_seconds": round(age, 3),
            "source": beat.source,
        }
        if age >= n * beat.interval + beat.lag:
            missed = int(max(0.0, age - beat.lag) // beat.interval)
            return FailureMode.STALL, evidence | {"missed_beats": missed, "lag_allowance": beat.lag}
        window = self.policy.flat_intervals * beat.interval
        flat, slope = is_flat(
            beat.samples, now, window, min_slope=self.policy.min_slope, min_samples=self.policy.min_samples
        )
        if flat:
            return FailureMode.NO_PROGRESS, evidence | {"slope_per_second": slope, "window_seconds": window}
        return None

    def _act(
        self, beat: BeatState, mode: FailureMode, evidence: dict[str, Any], *, now: float
    ) -> Decision | None:
        """Revoke the lease (compare-and-set) and record the decision in one transaction; then emit."""
        checkpoint = self.checkpoints.load(beat.task_id) if mode is FailureMode.STALL else None
        if mode is FailureMode.STALL and self.policy.kill_local_workers:
            if (killed := kill_local_owner(beat.owner)) is not None:
                evidence = evidence | {"killed_pid": killed}
        decided: list[Decision] = []

        def record(conn: Connection, token: int) -> None:
            if mode is FailureMode.STALL:
                strategy, plan = Strategy.RETRY_FROM_CHECKPOINT, retry_from_checkpoint(checkpoint, token)
                age, missed = evidence["age_seconds"], evidence["missed_beats"]
                reason = f"no heartbeat for {age:g} s ({missed} missed beats)"
            else:
                nxt = switch_strategy(None)  # the lead knows the strategy in use; it may pick the next one
                plan = {"fenced_at_token": token} | (nxt.model_dump() if nxt is not None else {})
                strategy = Strategy.SWITCH_STRATEGY
                reason = f"progress flat for {evidence['window_seconds']:g} s"
            decision = Decision(
                decision_id=f"{mode.value}:{beat.task_id}:{beat.token}",
                mode=mode,
                strategy=strategy,
                reason=reason,
                run_id=beat.run_id,
                phase=beat.phase,
                task_id=beat.task_id,
                evidence=evidence,
                plan=plan,
                decided_at=now,
            )
            _outbox(conn, decision)
            decided[:] = [decision]

        if self.store.revoke(beat.task_id, beat.token, status="stalled", also=record) is None:
            return None  # someone else acted on this lease first, or the task ended
        self._hand_over(decided[0])
        return decided[0]

    # --- failures reported by the lead --------------------------------------------------------------

    def decide(self, failure: Failure, context: UnstickContext | None = None) -> Decision:
        """Choose the unsticker for `failure`, record it (idempotently) and emit it."""
        context = context or UnstickContext()
        count = failure.count or self._prior(failure) + 1
        now = self.clock()
        strategy, reason, plan = self._choose(failure, context, count, now)
        decision = Decision(
            decision_id=f"{failure.mode.value}:{failure.run_id}:{failure.task_id or failure.phase}:{count}",
            mode=failure.mode,
            strategy=strategy,
            reason=reason,
            run_id=failure.run_id,
            phase=failure.phase,
            task_id=failure.task_id,
            evidence=failure.evidence | {"detail": failure.detail, "count": count},
            plan=plan,
            decided_at=now,
        )
        stored, pending = self.db.write(lambda conn: _outbox(conn, decision))
        if pending:
            self._hand_over(stored)
        return stored

    def _choose(
        self, failure: Failure, ctx: UnstickContext, count: int, now: float
    ) -> tuple[Strategy, str, dict[str, Any]]:
        mode, policy = failure.mode, self.policy
        if mode is FailureMode.RATE_LIMIT:
            delay = backoff_delay(
                count, failure.retry_after, base=policy.backoff_base, cap=policy.backoff_cap
            )
            plan = {"delay_seconds": delay, "retry_after": failure.retry_after, "fire_at": now + delay}
            return Strategy.BACKOFF, f"rate limited; retry in {delay:.2f} s (attempt {count})", plan
        if mode is FailureMode.MODEL_ERRORS:
            return self._fallback(failure, ctx, count, now)
        if mode is FailureMode.CONTEXT_TOO_LONG:
            size = ctx.max_input_tokens or policy.default_chunk_tokens
            # the split the lead planned, if any: which input, into how many parts of what size
            split = {k: failure.evidence[k] for k in ("input", "chunks", "sizes") if k in failure.evidence}
            return (
                Strategy.SPLIT_INPUT,
                f"input too long; split into chunks of ≤ {size} tokens",
                {"max_tokens": size} | split,
            )
        if mode is FailureMode.BUDGET_EXHAUSTED:
            return self._budget(failure, ctx)
        if mode is FailureMode.NO_PROGRESS:
            nxt = switch_strategy(ctx.strategy, ctx.strategies)
            if nxt is not None:
                return Strategy.SWITCH_STRATEGY, f"no progress; switch to {nxt.name}", nxt.model_dump()
            return self._escalate(failure, count, now, "no progress with every strategy")
        if mode is FailureMode.STALL:
            plan = retry_from_checkpoint(self.checkpoints.load(failure.task_id or ""), None)
            return Strategy.RETRY_FROM_CHECKPOINT, "stalled; retry from the checkpoint", plan
        return self._escalate(failure, count, now, f"gate failed {count} time(s)")

    def _fallback(
        self, failure: Failure, ctx: UnstickContext, count: int, now: float
    ) -> tuple[Strategy, str, dict[str, Any]]:
        if count < self.policy.model_error_threshold:
            delay = backoff_delay(
                count, failure.retry_after, base=self.policy.backoff_base, cap=self.policy.backoff_cap
            )
            plan = {"delay_seconds": delay, "fire_at": now + delay, "model": ctx.model}
            return (
                Strategy.BACKOFF,
                f"model error {count} of {self.policy.model_error_threshold}; retry",
                plan,
            )
        model = next_model(ctx.ladder, ctx.model)
        if model is None:
            return self._escalate(failure, count, now, "model errors and no model left on the ladder")
        plan = {"from_model": ctx.model, "to_model": model}
        return Strategy.FALLBACK_MODEL, f"{count} model errors; fall back to {model}", plan

    def _budget(self, failure: Failure, ctx: UnstickContext) -> tuple[Strategy, str, dict[str, Any]]:
        refused_before_call = bool(failure.evidence.get("requested"))
        # the model caller degrades down the ladder itself; a refusal it raised means none was left
        degradable = refused_before_call and not failure.evidence.get("ladder_exhausted")
        cheaper = next_model(ctx.ladder, ctx.model) if degradable else None
        if cheaper is not None:
            plan = {"from_model": ctx.model, "to_model": cheaper, "budget": failure.evidence.get("budget")}
            return (
                Strategy.DEGRADE_MODEL,
                f"budget `{plan['budget']}` too tight for {ctx.model}; use {cheaper}",
                plan,
            )
        report = budget_report(failure.evidence, failure.phase)
        return Strategy.STOP, report, {"report": report, "budget": failure.evidence.get("budget")}

    def _escalate(
        self, failure: Failure, count: int, now: float, why: str
    ) -> tuple[Strategy, str, dict[str, Any]]:
        reasons = [str(r) for r in failure.evidence.get("reasons", [])] or [failure.detail or why]
        record = escalation(failure.run_id, failure.phase, reasons, count, now)
        return Strategy.ESCALATE, f"{why}: pause the run for a person", record.model_dump()

    def _prior(self, failure: Failure) -> int:
        with self.db.read() as conn:
            query = sa.select(sa.func.count()).where(
                OUTBOX.c.run_id == failure.run_id,
                OUTBOX.c.mode == failure.mode.value,
                OUTBOX.c.task_id == failure.task_id if failure.task_id else OUTBOX.c.phase == failure.phase,
            )
            return int(conn.execute(query).scalar_one())

    # --- outbox -------------------------------------------------------------------------------------

    def _hand_over(self, decision: Decision) -> bool:
        """Claim the decision in the outbox, emit it, mark it emitted; True if this call emitted it."""
        if self.emit is None or not self._mark(decision, "claim"):
            return False
        try:
            self.emit(decision)
        except Exception:  # noqa: BLE001 - the outbox keeps it; the next tick hands it over again
            log.exception("emitting decision %s failed; will retry", decision.decision_id)
            self._mark(decision, "unclaim")
            return False
        self._mark(decision, "emitted")
        return True

    def _mark(self, decision: Decision, what: str) -> bool:
        now = self.clock()
        row = OUTBOX.c.decision_id == decision.decision_id
        values: dict[str, Any] = {"emitted_at": now} if what == "emitted" else {"claimed_at": None}
        if what == "claim":
            free = sa.or_(OUTBOX.c.claimed_at.is_(None), OUTBOX.c.claimed_at < now - self.reclaim_after)
            row, values = sa.and_(row, OUTBOX.c.emitted_at.is_(None), free), {"claimed_at": now}
        query = sa.update(OUTBOX).where(row).values(**values)
        return bool(self.db.write(lambda conn: conn.execute(query).rowcount))

    def flush(self) -> int:
        """Hand over decisions recorded but not emitted (a failing `emit`, or a supervisor that died
        between claiming and emitting one, `reclaim_after` seconds ago); returns how many."""
        if self.emit is None:
            return 0
        with self.db.read() as conn:
            rows = conn.execute(sa.select(OUTBOX.c.payload).where(OUTBOX.c.emitted_at.is_(None))).all()
        return sum(self._hand_over(Decision.model_validate(row.payload)) for row in rows)

    def decisions(self, run_id: str, *, strategy: Strategy | None = None) -> list[Decision]:
        """The decisions recorded for a run, oldest first (e.g. strategy=ESCALATE for `ideamine status`)."""
        query = sa.select(OUTBOX.c.payload).where(OUTBOX.c.run_id == run_id).order_by(OUTBOX.c.created_at)
        if strategy is not None:
            query = query.where(OUTBOX.c.strategy == strategy.value)
        with self.db.read() as conn:
            return [Decision.model_validate(row.payload) for row in conn.execute(query)]

    # --- runs ---------------------------------------------------------------------------------------

    def dead_runs(
        self, *, dead_after: float, run_ids: Iterable[str] | None = None, now: float | None = None
    ) -> list[DeadRun]:
        """Runs marked running whose tasks all stopped beating `dead_after` seconds ago (see dead_runs.py)."""
        now = self.clock() if now is None else now
        return find_dead_runs(self.store, dead_after=dead_after, run_ids=run_ids, now=now)


def _outbox(conn: Connection, decision: Decision) -> tuple[Decision, bool]:
    """Record `decision` unless its id exists; (the stored decision, whether it still needs emitting)."""
    values = dict(
        decision_id=decision.decision_id,
        run_id=decision.run_id,
        phase=decision.phase,
        task_id=decision.task_id,
        mode=decision.mode.value,
        strategy=decision.strategy.value,
        payload=decision.model_dump(mode="json"),
        created_at=decision.decided_at,
        emitted_at=None,
    )
    if insert_ignore(conn, OUTBOX, values):
        return decision, True
    row = conn.execute(
        sa.select(OUTBOX.c.payload, OUTBOX.c.emitted_at).where(OUTBOX.c.decision_id == decision.decision_id)
    ).one()
    return Decision.model_validate(row.payload), row.emitted_at is None
