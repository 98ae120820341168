"""The event bus delivers to wildcard subscribers in order; the JSON-lines log keeps every event."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ideamine_core.events import Event, EventBus, JsonlEventLog


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
