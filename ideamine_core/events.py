"""Event bus: in-process publish/subscribe with wildcard patterns, and a JSON-lines event log."""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PHASE_EVENTS = (
    "phase.started",
    "phase.progress",
    "phase.agent.complete",
    "phase.ready",
    "phase.gate.passed",
    "phase.gate.failed",
    "phase.complete",
)


class Event(BaseModel):
    """One event: a dotted type, the run and phase it concerns, and data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        line = (event.model_dump_json() + "\n").encode()
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
