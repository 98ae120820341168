"""One supervisor pass over a Runtime: stalled tasks, dead runs and due timers (what the sensor runs).

:func:`supervise` ticks the runtime's supervisor (stall and flat-progress decisions, recorded in the
ledger and announced by ``Runtime.record_decision``), then finds runs marked running that are dead —
their worker process on this host is gone, or (worker elsewhere or unknown) none of their tasks has
beaten for :func:`dead_after` seconds — marks each ``interrupted`` with a ledger decision and a
``run.interrupted`` event saying how to resume, and claims the durable timers that are due, announcing
each as ``timer.due``. The Dagster side only marks the dead runs' Dagster runs failed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from pydantic import BaseModel, Field

from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.ledger import DecisionPayload
from ideamine_core.phase.claims import excerpt
from ideamine_core.phase.records import Records
from ideamine_core.resilience.dead_runs import DeadRun
from ideamine_core.resilience.decisions import Decision
from ideamine_core.resilience.timers import Timer, TimerStore
from ideamine_core.runtime import Runtime
from ideamine_core.storage.run_store import RunStore

T = TypeVar("T")
DEFAULT_INTERVAL = 30.0
"""Seconds between passes when no phase asks for a shorter heartbeat interval."""


class PassReport(BaseModel):
    """What one supervisor pass saw and did."""

    checked: int = Field(description="Leased tasks judged.")
    decisions: list[Decision]
    dead_runs: list[DeadRun]
    timers: list[Timer]

    def summary(self) -> str:
        """One line for the sensor's tick (Dagster UI): the counts, then why — each decision's task,
        failure mode, strategy and short reason, each dead run and each due timer — at most
        :data:`LISTED` of each and :data:`SUMMARY_CHARS` characters in all."""
        head = (
            f"{self.checked} task(s) checked, {len(self.decisions)} decision(s), "
            f"{len(self.dead_runs)} dead run(s), {len(self.timers)} timer(s) due"
        )
        items = _listed(self.decisions, _decision_line, "decision(s)")
        items += _listed(self.dead_runs, _dead_run_line, "dead run(s)")
        items += _listed(self.timers, _timer_line, "timer(s)")
        return excerpt(f"{head}: {'; '.join(items)}" if items else head, SUMMARY_CHARS)


LISTED = 5
"""Decisions, dead runs and timers named one by one in a tick's summary; the rest are counted."""
REASON_CHARS = 160
"""Longest reason quoted for one decision in a tick's summary."""
SUMMARY_CHARS = 2000
"""Longest tick summary."""


def _listed(items: Sequence[T], line: Callable[[T], str], noun: str) -> list[str]:
    shown = [line(item) for item in items[:LISTED]]
    return shown + ([f"{len(items) - LISTED} more {noun}"] if len(items) > LISTED else [])


def _decision_line(decision: Decision) -> str:
    """`task: mode → strategy (reason)`; the phase, else the run, when the decision names no task."""
    where = f"{decision.run_id}/{decision.phase}" if decision.phase else decision.run_id
    subject = decision.task_id or where
    reason = excerpt(decision.reason, REASON_CHARS)
    return f"{subject}: {decision.mode.value} → {decision.strategy.value} ({reason})"


def _dead_run_line(run: DeadRun) -> str:
    return f"run {run.run_id} interrupted (silent {run.silent_seconds:.0f} s)"


def _timer_line(timer: Timer) -> str:
    return f"timer {timer.timer_id} ({timer.kind}) of {timer.task_id or timer.run_id}"


def pass_interval(configs: Iterable[PhaseConfig]) -> float:
    """Seconds between passes: the smallest heartbeat interval of any phase, at most 30 s."""
    return min([DEFAULT_INTERVAL, *(c.heartbeat.interval_seconds for c in configs)])


def dead_after(configs: Iterable[PhaseConfig]) -> float:
    """Silence after which a run whose worker cannot be checked is dead: the longest phase timebox (a
    gate may evaluate for long without a task beating), and at least twice the slowest stall bound."""
    configs = list(configs)
    bounds = [2 * (c.heartbeat.stall_threshold + 1) * c.heartbeat.interval_seconds for c in configs]
    return max([*bounds, *(c.timebox_seconds() for c in configs), 8 * DEFAULT_INTERVAL])


def supervise(
    runtime: Runtime, configs: Iterable[PhaseConfig], *, owner: str = "supervisor", now: float | None = None
) -> PassReport:
    """Tick the supervisor, mark dead runs interrupted and claim due timers (see the module doc)."""
    configs = list(configs)
    supervisor = runtime.supervisor(configs)
    tick = supervisor.tick(now)
    at = time.time() if now is None else now
    silent = supervisor.dead_runs(dead_after=0.0, now=at)  # every run marked running, with its silence
    dead = [run for run in silent if _is_dead(runtime.store, run, dead_after(configs))]
    for run in dead:
        mark_interrupted(runtime, run)
    timers = _fire_timers(runtime, owner, at)
    return PassReport(checked=tick.checked, decisions=tick.decisions, dead_runs=dead, timers=timers)


def _is_dead(store: RunStore, run: DeadRun, silence: float) -> bool:
    """A worker process of this host decides at once; otherwise the run's silence does."""
    known = (store.run_dir(run.run_id) / "run.json").exists()
    worker = store.load_run(run.run_id).worker if known else None
    if worker is not None and worker.host == socket.gethostname():
        return not worker.is_alive()
    return run.silent_seconds >= silence


def mark_interrupted(runtime: Runtime, run: DeadRun) -> None:
    """Set the run's status to interrupted, with a ledger decision and an event naming the fix."""
    record = runtime.store.load_run(run.run_id)
    fix = f"ideamine resume {run.run_id}"
    reason = f"no sign of life for {run.silent_seconds:.0f} s: its worker died; continue it with `{fix}`"
    Records(runtime.db, runtime.store).run(record, "interrupted", runtime.settings.model, detail=reason)
    record.worker = None  # so `ideamine status` and `ideamine resume` see it as interrupted, on any host
    runtime.store.save_run(record)
    payload = DecisionPayload(
        kind="run_interrupted",
        reason=reason,
        detail={"last_beat_at": run.last_beat_at, "silent_seconds": round(run.silent_seconds, 3)},
    )
    runtime.ledger.record(run.run_id, payload, key=f"run_interrupted:{run.run_id}:{run.last_beat_at}")
    runtime.emit("run.interrupted", run.run_id, None, reason=reason, resume=fix)


def _fire_timers(runtime: Runtime, owner: str, now: float) -> list[Timer]:
    """Claim the due durable timers; each is announced (`timer.due`) for its run, then completed."""
    timers = TimerStore(runtime.db)
    due = timers.due(owner, now=now)
    for timer in due:
        runtime.emit(
            "timer.due",
            timer.run_id,
            None,
            timer_id=timer.timer_id,
            kind=timer.kind,
            task_id=timer.task_id,
            payload=timer.payload,
        )
        timers.complete(timer.timer_id, owner)
    return due
