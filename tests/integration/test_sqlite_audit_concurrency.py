"""RELIABILITY test 15 (audit-trail part): the embedded SQLite database under parallel writers.

Two processes (as the Dagster multiprocess executor runs steps) each run four agent threads that write
what a task writes — a ledger task entry, events, a provenance record and phase metrics — to one
SQLite file at once. No "database is locked" error may reach the caller; retries absorbed inside
`Database.write` are counted; the ledger chain stays intact. The full run under the Dagster executor
is the lead's integration; this is the storage layer's share.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from ideamine_core.events import DatabaseEventSink, Event, load_events
from ideamine_core.ledger import Ledger, TaskPayload
from ideamine_core.metrics import save_phase_metrics
from ideamine_core.provenance import ProvenanceStore, agent_name
from ideamine_core.storage.database import Database

PROCESSES, AGENTS, TASKS = 2, 4, 25
RUN = "sqlite-run"


def agent(db: Database, proc: int, n: int, errors: list[str]) -> None:
    ledger, sink, prov = Ledger(db, signer=None), DatabaseEventSink(db), ProvenanceStore(db)
    name = f"Agent{proc}x{n}"
    try:
        for i in range(TASKS):
            sink(Event(type="phase.progress", run_id=RUN, phase="build", data={"agent": name, "i": i}))
            ledger.record(RUN, TaskPayload(phase="build", agent=name, status="succeeded", attempt=i + 1))
            prov.record(
                RUN, agent_name("build", name, i), kind="agent", content_hash=f"sha256:{i}", producer={}
            )
            save_phase_metrics(db, RUN, f"build-{name}", {"done": float(i)})
    except Exception as exc:  # noqa: BLE001 - any error surfacing to the caller is what we count
        errors.append(f"{type(exc).__name__}: {exc}")


def worker(url: str, proc: int, results: multiprocessing.Queue) -> None:
    db = Database(url)
    errors: list[str] = []
    threads = [threading.Thread(target=agent, args=(db, proc, n, errors)) for n in range(AGENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((errors, db.retries_absorbed))


def test_parallel_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ideamine.db'}"
    Database(url).setup()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, p, results)) for p in range(PROCESSES)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = time.perf_counter() - started
    errors = [e for errs, _ in outcomes for e in errs]
    locked = sum("locked" in e for e in errors)
    retries = sum(r for _, r in outcomes)
    db = Database(url)
    entries = len(Ledger(db, signer=None).entries(RUN))
    print(
        f"\n[test15 sqlite] writers {PROCESSES}×{AGENTS}: 'database is locked' surfacing {locked}, "
        f"other errors {len(errors) - locked}, retries absorbed {retries}, "
        f"ledger {entries / elapsed:.0f} entries/s ({4 * entries / elapsed:.0f} writes/s all tables)"
    )
    assert errors == []
    assert entries == PROCESSES * AGENTS * TASKS
    assert len(load_events(db, RUN)) == PROCESSES * AGENTS * TASKS
    assert Ledger(db, signer=None).verify(RUN).ok
