"""The services one process needs to run phases, wired from Settings once per process.

Database (migrated embedded SQLite, or a configured one), run folder store, ledger, provenance,
gate evidence and waivers, heartbeat store and checkpoints (Redis or database), the per-provider
circuit breaker, and an event bus whose events go to the run's JSONL log, the database and, with
REDIS_URL, Redis Streams. Model callers are made per task, so each carries its phase's budget meter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.events import DatabaseEventSink, EventBus, RedisEventStream
from ideamine_core.ledger import Ledger
from ideamine_core.phase.evidence_store import KnowledgeStore
from ideamine_core.phase.waivers import WaiverStore
from ideamine_core.provenance import ProvenanceStore
from ideamine_core.providers.base import Provider
from ideamine_core.providers.caller import ModelCaller
from ideamine_core.providers.factory import build_caller
from ideamine_core.redaction import install_log_redaction
from ideamine_core.resilience.breaker_storage import breaker_storage
from ideamine_core.resilience.budgets import BudgetMeter
from ideamine_core.resilience.checkpoints import CheckpointStore
from ideamine_core.resilience.circuit_breaker import CircuitBreaker
from ideamine_core.resilience.decisions import Decision
from ideamine_core.resilience.heartbeats import HeartbeatStore, heartbeat_store
from ideamine_core.resilience.supervisor import Supervisor, SupervisorPolicy
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database, open_database
from ideamine_core.storage.run_store import RunStore


@dataclass
class Runtime:
    """Core services for one Settings in one process (see `Runtime.of`)."""

    settings: Settings
    db: Database
    store: RunStore
    ledger: Ledger
    provenance: ProvenanceStore
    knowledge: KnowledgeStore
    waivers: WaiverStore
    heartbeats: HeartbeatStore
    checkpoints: CheckpointStore
    breaker: CircuitBreaker
    bus: EventBus = field(default_factory=EventBus)
    _logs: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _supervisor: Supervisor | None = None

    @classmethod
    def of(cls, settings: Settings) -> Runtime:
        """The process-wide runtime of `settings` (built on first use, never shared across fork)."""
        key = (settings.model_dump_json(), os.getpid())
        with _RUNTIMES_LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = _RUNTIMES[key] = cls.build(settings)
            return runtime

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Open every service of `settings` (ServiceUnavailableError naming a missing service)."""
        install_log_redaction()
        db = open_database(settings.db_url, embedded=settings.embedded_database)
        ledger = Ledger(db)
        runtime = cls(
            settings=settings,
            db=db,
            store=RunStore(settings.runs_dir),
            ledger=ledger,
            provenance=ProvenanceStore(db, ledger),
            knowledge=KnowledgeStore(db),
            waivers=WaiverStore(db),
            heartbeats=heartbeat_store(db, settings.redis_url),
            checkpoints=CheckpointStore(db),
            breaker=CircuitBreaker(breaker_storage(db, settings.redis_url)),
        )
        runtime.bus.subscribe("*", DatabaseEventSink(db))
        if settings.redis_url:
            runtime.bus.subscribe("*", RedisEventStream(settings.redis_url))
        return runtime

    def emit(self, type_: str, run_id: str, phase: str | None = None, **data: object) -> None:
        """Publish an event (the run's JSONL log subscribes on first use)."""
        with self._lock:
            if run_id not in self._logs:
                log = self.store.event_log(run_id)
                self.bus.subscribe("*", lambda e, log=log, run=run_id: log(e) if e.run_id == run else None)
                self._logs.add(run_id)
        self.bus.emit(type_, run_id, phase, **data)

    def record_decision(self, decision: Decision) -> None:
        """A supervisor decision: its ledger `decision` entry (idempotent) and its events."""
        entry = decision.ledger_entry()
        self.ledger.append(
            decision.run_id,
            "decision",
            entry["payload"],
            key=entry["idempotency_key"],
            phase=decision.phase,
            task_id=decision.task_id,
        )
        for kind, data in decision.events():
            self.emit(kind, decision.run_id, decision.phase, **data)

    def supervisor(self, configs: Iterable[PhaseConfig]) -> Supervisor:
        """A supervisor over this runtime's heartbeats; decisions go to the ledger and the bus."""
        with self._lock:
            if self._supervisor is None:
                self._supervisor = Supervisor(
                    self.heartbeats,
                    db=self.db,
                    policy=SupervisorPolicy.from_configs(configs),
                    emit=self.record_decision,
                    checkpoints=self.checkpoints,
                )
            return self._supervisor

    def meter(self, run_id: str, config: PhaseConfig) -> BudgetMeter:
        """The budget meter of one phase in one run (usage shared through the database)."""
        return BudgetMeter(self.db, run_id=run_id, phase=config.phase, budgets=config.budgets)

    def caller(self, offline: Provider, meter: BudgetMeter | None = None) -> ModelCaller:
        """A model caller whose calls are charged to `meter` and guarded by the circuit breaker."""
        return build_caller(
            self.settings,
            self.db,
            offline=offline,
            before_call=meter.before_call if meter else None,
            after_call=(lambda record: meter.after_call(record)) if meter else None,
            guard=self.breaker,
        )


_RUNTIMES: dict[tuple[str, int], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()
