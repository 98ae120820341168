"""Events: the bus delivers to wildcard subscribers in order; the JSON-lines log keeps every event;
the database sink stores each event once (SQLite and PostgreSQL); every sink redacts secrets;
followers stream a run's events live from the database or Redis Streams until the run ends.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from ideamine_core.events import (
    DatabaseEventSink,
    Event,
    EventBus,
    JsonlEventLog,
    RedisEventStream,
    follow_events,
    load_events,
    stream_key,
)
from ideamine_core.storage.database import Database


def test_wildcard_subscribers_receive_matching_events_in_publish_order() -> None:
    bus, seen, phases = EventBus(), [], []
    bus.subscribe("*", lambda e: seen.append(e.type))
    bus.subscribe("phase.gate.*", lambda e: phases.append(e.type))
    for kind in ("phase.started", "phase.gate.passed", "kmap.delta.created", "phase.gate.failed"):
        bus.emit(kind, "run-1", "intake")
    assert seen == ["phase.started", "phase.gate.passed", "kmap.delta.created", "phase.gate.failed"]
    assert phases == ["phase.gate.passed", "phase.gate.failed"]


def test_unsubscribe_stops_delivery() -> None:
    bus, seen = EventBus(), []
    stop = bus.subscribe("phase.*", seen.append)
    bus.emit("phase.started", "r")
    stop()
    bus.emit("phase.complete", "r")
    assert [e.type for e in seen] == ["phase.started"]


def _write_many(path: str, worker: int) -> None:
    log = JsonlEventLog(Path(path))
    for i in range(200):
        log(Event(type="phase.progress", run_id="r", data={"worker": worker, "i": i}))


def test_concurrent_writers_from_processes_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    procs = [multiprocessing.Process(target=_write_many, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    events = JsonlEventLog(path).read()
    assert len(events) == 800
    for w in range(4):
        assert [e.data["i"] for e in events if e.data["worker"] == w] == list(range(200))


def test_follow_from_returns_only_new_complete_lines(tmp_path: Path) -> None:
    log = JsonlEventLog(tmp_path / "e.jsonl")
    log(Event(type="a", run_id="r"))
    first, offset = log.follow_from(0)
    assert [e.type for e in first] == ["a"]
    with log.path.open("ab") as fh:
        fh.write(b'{"type": "partial')
    more, offset2 = log.follow_from(offset)
    assert list(more) == [] and offset2 == offset


# --- sinks and followers: database (both backends) and Redis Streams -------------------------------


def test_database_sink_stores_each_event_once_in_order(db: Database) -> None:
    sink, bus = DatabaseEventSink(db), EventBus()
    bus.subscribe("*", sink)
    first = bus.emit("phase.started", "run-1", "intake", agents=["A"])
    bus.emit("phase.complete", "run-1", "intake", status="passed")
    bus.emit("phase.started", "run-2", "intake")
    sink(first)  # a re-published event (a retry) is not stored twice
    stored = load_events(db, "run-1")
    assert [e.type for _, e in stored] == ["phase.started", "phase.complete"]
    assert stored[0][1] == first
    assert [e.type for _, e in load_events(db, "run-1", after_id=stored[0][0])] == ["phase.complete"]


def test_every_sink_redacts_secrets(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "canary-anthropic-77c1d0e2f9")
    event = Event(type="task.retry", run_id="r", data={"error": "401 key canary-anthropic-77c1d0e2f9"})
    DatabaseEventSink(db)(event)
    log = JsonlEventLog(tmp_path / "e.jsonl")
    log(event)
    assert "canary-anthropic" not in (tmp_path / "e.jsonl").read_text()
    assert "canary-anthropic" not in load_events(db, "r")[0][1].data["error"]
    assert log.read()[0].event_id == event.event_id


def test_database_follower_yields_live_events_until_the_run_ends(db: Database) -> None:
    sink = DatabaseEventSink(db)
    sink(Event(type="phase.started", run_id="r", phase="intake"))
    received: list[str] = []

    def follow() -> None:
        received.extend(e.type for e in follow_events("r", db=db, poll_seconds=0.05))

    thread = threading.Thread(target=follow)
    thread.start()
    for kind in ("phase.progress", "phase.complete", "run.complete", "phase.started"):
        sink(Event(type=kind, run_id="r"))
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert received == ["phase.started", "phase.progress", "phase.complete", "run.complete"]


def test_database_follower_stops_when_done_says_so(db: Database) -> None:
    DatabaseEventSink(db)(Event(type="phase.started", run_id="r"))
    events = list(follow_events("r", db=db, poll_seconds=0.01, done=lambda: True))
    assert [e.type for e in events] == ["phase.started"]


def test_redis_streams_deliver_to_each_consumer_group(redis_url: str, redis_prefix: str) -> None:
    stream = RedisEventStream(redis_url, prefix=redis_prefix)
    stream.ensure_group("dashboard", "r")
    stream.ensure_group("dashboard", "r")  # creating an existing group is a no-op
    stream(Event(type="phase.started", run_id="r"))
    stream(Event(type="phase.started", run_id="other"))
    follower = follow_events("r", stream=stream, poll_seconds=0.1)
    assert next(follower).type == "phase.started"
    stream(Event(type="run.complete", run_id="r"))
    assert [e.type for e in follower] == ["run.complete"]
    got = stream.read_group("dashboard", "c1", "r", block_ms=100)
    assert [e.type for e in got] == ["phase.started", "run.complete"]
    assert stream.read_group("dashboard", "c1", "r", block_ms=10) == []
    assert len(stream.client.xrange(stream_key(redis_prefix))) == 3
    groups = stream.client.xinfo_groups(stream_key(redis_prefix, "r"))
    assert [g["name"] for g in groups] == [b"dashboard"], "the follower's ephemeral group is removed"
    stream.close()
