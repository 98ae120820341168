"""SQLAlchemy 2 typed table mappings: the tables of the original system plus our caches and leases.

Times are UNIX epoch seconds (``Double``) on both backends, so comparisons and arithmetic mean the
same thing on SQLite and PostgreSQL. JSON columns hold pydantic dumps. Every durable write that a
retry could repeat carries an idempotency key under a unique constraint (RELIABILITY decision 3).
The Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, float: sa.Double()}


class RunRow(Base):
    """One pipeline run for one idea (also the Dagster partition key)."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    idea: Mapped[str] = mapped_column(sa.Text)
    submission: Mapped[dict[str, Any]]
    phases: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(sa.String(32), default="created")
    model: Mapped[str] = mapped_column(sa.String(200), default="offline")
    created_at: Mapped[float]
    updated_at: Mapped[float]
    dagster_run_ids: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class PhaseRow(Base):
    """A phase's state in one run."""

    __tablename__ = "phases"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    phase: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(32))
    started_at: Mapped[float | None]
    finished_at: Mapped[float | None]
    gate_score: Mapped[float | None]
    threshold: Mapped[float | None]
    attempts: Mapped[int] = mapped_column(default=0)
    artifact_hash: Mapped[str | None] = mapped_column(sa.String(80))
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class TaskRow(Base):
    """One agent task (agent × iteration) of a phase, with its lease and fencing token."""

    __tablename__ = "tasks"
    __table_args__ = (sa.Index(None, "run_id", "phase"), sa.Index(None, "status"))

    task_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str] = mapped_column(sa.String(64))
    agent: Mapped[str] = mapped_column(sa.String(64))
    iteration: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(32), default="pending")
    attempt: Mapped[int] = mapped_column(default=0)
    fencing_token: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_expires_at: Mapped[float | None]
    last_heartbeat_at: Mapped[float | None]
    progress: Mapped[float | None]
    started_at: Mapped[float | None]
    finished_at: Mapped[float | None]
    model: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class HeartbeatRow(Base):
    """Latest heartbeat of a running task (database backend of the heartbeat store)."""

    __tablename__ = "heartbeats"
    __table_args__ = (sa.Index(None, "run_id"),)

    task_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str] = mapped_column(sa.String(64))
    owner: Mapped[str] = mapped_column(sa.String(200))
    fencing_token: Mapped[int] = mapped_column(sa.BigInteger)
    beat_at: Mapped[float]
    interval_seconds: Mapped[float]
    progress: Mapped[float | None]
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    samples: Mapped[list[Any]] = mapped_column(default=list)
    """Recent ``[beat_at, progress]`` pairs, newest last, for the supervisor's slope monitor."""
    lag_seconds: Mapped[float] = mapped_column(default=0.0)
    """How far `beat_at` may trail the worker's last beat (Redis backend: renewed every ttl / 2)."""


class CheckpointRow(Base):
    """A task's checkpoint: an opaque token and data to resume from."""

    __tablename__ = "checkpoints"
    __table_args__ = (sa.Index(None, "run_id"), sa.Index(None, "created_at"))

    task_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    token: Mapped[str] = mapped_column(sa.String(200))
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    data: Mapped[dict[str, Any]]
    fencing_token: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[float]


class EventRow(Base):
    """A persisted event (the bus also publishes it live, and to Redis Streams when configured)."""

    __tablename__ = "events"
    __table_args__ = (sa.Index(None, "run_id", "id"), sa.Index(None, "ts"))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str | None] = mapped_column(sa.String(64))
    type: Mapped[str] = mapped_column(sa.String(100))
    ts: Mapped[float]
    pid: Mapped[int | None]
    data: Mapped[dict[str, Any]]


class TimerRow(Base):
    """A durable timer: a retry or timeout that must fire even if the process that set it died."""

    __tablename__ = "timers"
    __table_args__ = (sa.Index(None, "status", "fire_at"),)

    timer_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    task_id: Mapped[str | None] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    fire_at: Mapped[float]
    status: Mapped[str] = mapped_column(sa.String(32), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[float]
    fired_at: Mapped[float | None]
    claim_owner: Mapped[str | None] = mapped_column(sa.String(200))
    claim_expires_at: Mapped[float | None]
    attempts: Mapped[int] = mapped_column(default=0)


class AssumptionRow(Base):
    """A claim accepted without evidence during Q/A/V clarification."""

    __tablename__ = "assumptions"
    __table_args__ = (sa.UniqueConstraint("run_id", "idempotency_key"), sa.Index(None, "run_id", "phase"))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str] = mapped_column(sa.String(64))
    claim: Mapped[str] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(32))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[float]


class KmapFrameRow(Base):
    """A knowledge-map frame produced by Q/A/V (announced by ``kmap.delta.created``)."""

    __tablename__ = "kmap_frames"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    frame_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    phase: Mapped[str] = mapped_column(sa.String(64))
    question: Mapped[str] = mapped_column(sa.Text)
    answer: Mapped[str] = mapped_column(sa.Text)
    verdict: Mapped[str] = mapped_column(sa.String(16))
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[float]


class EvidencePackRow(Base):
    """The evidence a gate judged in one phase attempt."""

    __tablename__ = "evidence_packs"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    phase: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True)
    passed: Mapped[bool]
    score: Mapped[float]
    pack: Mapped[dict[str, Any]]
    created_at: Mapped[float]


class LedgerRow(Base):
    """Append-only, hash-chained ledger: ``(run_id, seq)`` is the chain position.

    ``payload`` is the canonical JSON text that was hashed, kept verbatim so verification never
    depends on a database's JSON normalisation.
    """

    __tablename__ = "ledger"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "idempotency_key"),
        sa.Index(None, "run_id", "type"),
        sa.Index(None, "ts"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    ts: Mapped[float]
    phase: Mapped[str | None] = mapped_column(sa.String(64))
    task_id: Mapped[str | None] = mapped_column(sa.String(200))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(80))
    hash: Mapped[str] = mapped_column(sa.String(80))


class PhaseMetricRow(Base):
    """One metric sample of a phase in a run (duration, tokens, cost, attempts, ...)."""

    __tablename__ = "phase_metrics"
    __table_args__ = (sa.UniqueConstraint("run_id", "phase", "name"), sa.Index(None, "ts"))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[float]
    ts: Mapped[float]


class ArtifactRow(Base):
    """An artifact with its provenance: content hash, producer and inputs."""

    __tablename__ = "artifacts"
    __table_args__ = (sa.UniqueConstraint("run_id", "name"), sa.Index(None, "content_hash"))

    artifact_id: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    phase: Mapped[str | None] = mapped_column(sa.String(64))
    content_hash: Mapped[str] = mapped_column(sa.String(80))
    producer: Mapped[dict[str, Any]]
    path: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[float]


class ArtifactInputRow(Base):
    """Lineage edge: `artifact_id` was made from `input_id` (queried with a recursive CTE)."""

    __tablename__ = "artifact_inputs"

    artifact_id: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    input_id: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    input_hash: Mapped[str] = mapped_column(sa.String(80))


class WaiverRow(Base):
    """A recorded waiver letting one named gate violation pass until it expires."""

    __tablename__ = "waivers"
    __table_args__ = (sa.Index(None, "run_id", "phase"),)

    waiver_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str] = mapped_column(sa.String(64))
    violation: Mapped[str] = mapped_column(sa.String(200))
    owner: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[float]
    created_at: Mapped[float]


class ReleaseDossierRow(Base):
    """The compiled release dossier of a run, with the anchored ledger head."""

    __tablename__ = "release_dossiers"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    completeness: Mapped[float]
    ledger_head: Mapped[str | None] = mapped_column(sa.String(80))
    dossier: Mapped[dict[str, Any]]
    created_at: Mapped[float]


class ModelCallRow(Base):
    """Write-ahead response cache: one completed model call per request hash (errors never stored).

    A row in status ``pending`` is a claim by the process making the call, so a concurrent
    identical request waits for it instead of paying again; ``claim_expires_at`` bounds the wait.
    """

    __tablename__ = "model_calls"
    __table_args__ = (sa.Index(None, "run_id"),)

    request_hash: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    provider: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(200))
    run_id: Mapped[str | None] = mapped_column(sa.String(100))
    agent: Mapped[str | None] = mapped_column(sa.String(64))
    request: Mapped[dict[str, Any]]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float | None]
    latency_ms: Mapped[float | None]
    claim_owner: Mapped[str | None] = mapped_column(sa.String(200))
    claim_expires_at: Mapped[float | None]
    created_at: Mapped[float]


class CircuitBreakerRow(Base):
    """Shared state of a per-provider circuit breaker (Redis holds it when configured)."""

    __tablename__ = "circuit_breakers"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    failures: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[float | None]
    updated_at: Mapped[float]
    window_started_at: Mapped[float | None]
    probe_started_at: Mapped[float | None]


class SupervisorDecisionRow(Base):
    """A supervisor decision (stall, no progress, ...) kept as an outbox until it was emitted."""

    __tablename__ = "supervisor_decisions"
    __table_args__ = (sa.Index(None, "run_id"), sa.Index(None, "emitted_at"))

    decision_id: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(100))
    phase: Mapped[str | None] = mapped_column(sa.String(64))
    task_id: Mapped[str | None] = mapped_column(sa.String(200))
    mode: Mapped[str] = mapped_column(sa.String(32))
    strategy: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[float]
    claimed_at: Mapped[float | None]
    emitted_at: Mapped[float | None]


class BudgetChargeRow(Base):
    """One charge against a phase's budgets (a model call, a tool run, a wall-clock segment).

    A wall-clock segment covers ``[created_at, created_at + wall_seconds]``; overlapping segments of
    parallel workers count once.
    """

    __tablename__ = "budget_charges"

    run_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    phase: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    charge_key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    """``reserved`` (a call's estimate, until it is settled), ``call``, ``tool`` or ``wall``."""
    tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    tool_seconds: Mapped[float] = mapped_column(default=0.0)
    wall_seconds: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[float]


class IdeaInboxRow(Base):
    """An idea submitted for the inbox sensor; `idea_key` (content hash + attempt) gives one run per key.

    `seq` orders submissions; the sensor's cursor is the last `seq` it turned into run requests.
    """

    __tablename__ = "idea_inbox"
    __table_args__ = (sa.Index(None, "content_hash"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    idea_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    content_hash: Mapped[str] = mapped_column(sa.String(80))
    attempt: Mapped[int] = mapped_column(default=1)
    submission: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(32), default="pending")
    run_id: Mapped[str | None] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(32), default="cli")
    created_at: Mapped[float]


METADATA = Base.metadata
"""Every IdeaMine table."""
