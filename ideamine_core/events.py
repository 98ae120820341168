"""Events: the model, the in-process bus (wildcard subscribe) and its sinks — JSON-lines file, database
table, Redis Streams — plus followers that stream a run's events live to another process.

Every sink redacts secrets before writing (RELIABILITY decision 12). The database sink is idempotent
by ``event_id``. With ``REDIS_URL`` set, events are also appended to one stream per run and a global
stream; a follower reads them through its own consumer group (so several processes each see every
event), or polls the database when Redis is not configured.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite

from ideamine_core.redaction import Redactor, default_redactor
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import EventRow

PHASE_EVENTS = (
    "phase.started",
    "phase.progress",
    "phase.agent.complete",
    "phase.ready",
    "phase.gate.passed",
    "phase.gate.failed",
    "phase.complete",
)

RUN_END_EVENTS = ("run.complete", "run.failed", "run.cancelled")
"""Events that end a run; a follower stops after one of them."""

GATE_EVENTS = ("phase.gate.autofix", "phase.gate.escalated", "kmap.delta.created")
"""What a gate announces besides its verdict: an auto-fix attempt, escalation, Q/A/V frames."""

SUPERVISOR_EVENTS = ("phase.stalled", "task.retry", "budget.exhausted", "phase.escalated")
"""What the supervisor announces with each decision."""

EVENT_TYPES = (*PHASE_EVENTS, *GATE_EVENTS, *SUPERVISOR_EVENTS, "dossier.published", *RUN_END_EVENTS)
"""Every event type the pipeline emits."""

DEFAULT_STREAM_PREFIX = "ideamine:"


class Event(BaseModel):
    """One event: a dotted type, the run and phase it concerns, and data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="Unique; idempotency key.")
    type: str
    run_id: str
    phase: str | None = None
    ts: float = Field(default_factory=time.time)
    pid: int = Field(default_factory=os.getpid)
    data: dict[str, Any] = Field(default_factory=dict)


Handler = Callable[[Event], None]


class EventBus:
    """In-process bus; `subscribe('phase.*', fn)` receives every matching event, in publish order."""

    def __init__(self) -> None:
        self._subs: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Register `handler` for types matching the glob `pattern`; returns an unsubscribe function."""
        entry = (pattern, handler)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver `event` to every matching subscriber, in subscription order."""
        with self._lock:
            subs = list(self._subs)
        for pattern, handler in subs:
            if fnmatch.fnmatchcase(event.type, pattern):
                handler(event)

    def emit(self, type_: str, run_id: str, phase: str | None = None, **data: Any) -> Event:
        """Build and publish an event."""
        event = Event(type=type_, run_id=run_id, phase=phase, data=data)
        self.publish(event)
        return event


class JsonlEventLog:
    """Append-only JSON-lines file of events, safe for concurrent writers (flock + O_APPEND)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: Event) -> None:
        """Append one event (usable directly as a bus handler)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (redact_event(event).model_dump_json() + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self) -> list[Event]:
        """Every complete event in the file, in append order."""
        return list(self.follow_from(0)[0])

    def follow_from(self, offset: int) -> tuple[Iterator[Event], int]:
        """Events appended after byte `offset`, and the new offset (partial lines are left)."""
        if not self.path.exists():
            return iter(()), offset
        with self.path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        lines = chunk[:end].splitlines()
        events = (Event.model_validate(json.loads(line)) for line in lines if line.strip())
        return events, offset + end


def redact_event(event: Event, redactor: Redactor | None = None) -> Event:
    """A copy of `event` with secrets removed from its data."""
    data = (redactor or default_redactor()).redact_value(event.data)
    return event if data == event.data else event.model_copy(update={"data": data})


class DatabaseEventSink:
    """Bus handler persisting events in the ``events`` table (a re-published event is stored once)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        module = postgresql if db.dialect == "postgresql" else sqlite
        self._insert = module.insert(EventRow).on_conflict_do_nothing(index_elements=["event_id"])

    def __call__(self, event: Event) -> None:
        """Store one event (usable directly as a bus handler)."""
        row = redact_event(event).model_dump()
        self.db.write(lambda conn: conn.execute(self._insert.values(**row)))


def load_events(
    db: Database, run_id: str, *, after_id: int = 0, limit: int | None = None
) -> list[tuple[int, Event]]:
    """A run's stored events after row id `after_id`, in storage order, with their row ids."""
    query = (
        sa.select(EventRow.__table__)
        .where(EventRow.run_id == run_id, EventRow.id > after_id)
        .order_by(EventRow.id)
        .limit(limit)
    )

    def read(conn: sa.Connection) -> list[tuple[int, Event]]:
        return [
            (row["id"], Event(**{f: row[f] for f in Event.model_fields}))
            for row in conn.execute(query).mappings()
        ]

    return db.read_with_retry(read)


def stream_key(prefix: str, run_id: str | None = None) -> str:
    """The Redis stream of one run, or the global stream when `run_id` is None."""
    return f"{prefix}events" if run_id is None else f"{prefix}events:{run_id}"


class RedisEventStream:
    """Redis Streams transport: publish to per-run and global streams, read through consumer groups."""

    def __init__(self, redis_url: str, *, prefix: str = DEFAULT_STREAM_PREFIX, maxlen: int = 100_000) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, health_check_interval=30)
        self.prefix, self.maxlen = prefix, maxlen

    def __call__(self, event: Event) -> None:
        """Publish one event (usable directly as a bus handler)."""
        fields = {"event": redact_event(event).model_dump_json()}
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(stream_key(self.prefix, event.run_id), fields, maxlen=self.maxlen, approximate=True)
        pipe.xadd(stream_key(self.prefix), fields, maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def ensure_group(self, group: str, run_id: str | None = None, *, start: str = "0") -> None:
        """Create consumer group `group` on the stream (from its start, or "$" for new events only)."""
        import redis

        try:
            self.client.xgroup_create(stream_key(self.prefix, run_id), group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_group(
        self, group: str, consumer: str, run_id: str | None = None, *, count: int = 100, block_ms: int = 500
    ) -> list[Event]:
        """Events delivered to `consumer` of `group` (blocking up to `block_ms`), acknowledged on return."""
        key = stream_key(self.prefix, run_id)
        answer = self.client.xreadgroup(group, consumer, {key: ">"}, count=count, block=block_ms)
        events, ids = [], []
        for _stream, messages in answer or []:
            for message_id, fields in messages:
                ids.append(message_id)
                events.append(Event.model_validate_json(fields[b"event"]))
        if ids:
            self.client.xack(key, group, *ids)
        return events

    def destroy_group(self, group: str, run_id: str | None = None) -> None:
        """Remove a consumer group (an ephemeral follower's, when it stops)."""
        self.client.xgroup_destroy(stream_key(self.prefix, run_id), group)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def follow_events(
    run_id: str,
    *,
    db: Database | None = None,
    stream: RedisEventStream | None = None,
    poll_seconds: float = 0.5,
    done: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Yield a run's events from the start and then live, until a run-end event or `done()`.

    From Redis Streams through an ephemeral consumer group when `stream` is given, else by polling
    the database. The caller stops early by closing the generator (e.g. on Ctrl-C).
    """
    if stream is not None:
        yield from _follow_stream(run_id, stream, poll_seconds, done)
    elif db is not None:
        yield from _follow_database(run_id, db, poll_seconds, done)
    else:
        raise ValueError("follow_events needs a database or a Redis stream")


def _follow_stream(
    run_id: str, stream: RedisEventStream, poll_seconds: float, done: Callable[[], bool] | None
) -> Iterator[Event]:
    group = f"follow-{uuid.uuid4().hex[:12]}"
    stream.ensure_group(group, run_id)
    try:
        while True:
            events = stream.read_group(group, "follower", run_id, block_ms=int(poll_seconds * 1000))
            for event in events:
                yield event
                if event.type in RUN_END_EVENTS:
                    return
            if not events and done is not None and done():
                return
    finally:
        stream.destroy_group(group, run_id)


def _follow_database(
    run_id: str, db: Database, poll_seconds: float, done: Callable[[], bool] | None
) -> Iterator[Event]:
    last = 0
    while True:
        batch = load_events(db, run_id, after_id=last, limit=500)
        for row_id, event in batch:
            last = row_id
            yield event
            if event.type in RUN_END_EVENTS:
                return
        if not batch:
            if done is not None and done():
                return
            time.sleep(poll_seconds)
