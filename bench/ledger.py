"""Ledger benchmark: append throughput against raw INSERTs of the same rows, and verify time.

For each backend (SQLite file, PostgreSQL schema) it measures, side by side in one run:
- raw INSERT rate: the same rows (hash chain precomputed) inserted one transaction each;
- ``Ledger.append`` rate with 1 writer and with 8 concurrent writers (threads), and their ratio to raw;
- 8 writers × 500 entries on one run in processes: forks and gaps (expected 0);
- ``verify`` time for 10,000 entries.

    python bench/ledger.py [--entries 2000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from ideamine_core.ledger import Ledger, TaskPayload, entry_hash, genesis_hash
from ideamine_core.ledger.store import read_entries
from ideamine_core.storage.database import Database

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLUMNS = ("run_id", "seq", "entry_id", "type", "ts", "phase", "task_id", "idempotency_key", "payload")
RAW_INSERT = sa.text(
    "INSERT INTO ledger (run_id, seq, entry_id, type, ts, phase, task_id, idempotency_key, payload, "
    "prev_hash, hash) VALUES (:run_id, :seq, :entry_id, :type, :ts, :phase, :task_id, :idempotency_key, "
    ":payload, :prev_hash, :hash)"
)


def payload(i: int, writer: int = 0) -> TaskPayload:
    """A realistic task payload."""
    return TaskPayload(
        phase="build",
        agent=f"Agent{writer}",
        status="succeeded",
        attempt=i + 1,
        provider="openai",
        model="gpt-4.1-mini",
        tokens_in=1200 + i,
        tokens_out=800,
        cost_usd=0.0021,
        latency_ms=912.5,
        request_hash=uuid.uuid4().hex,
    )


def raw_rows(run_id: str, n: int) -> list[dict]:
    """The rows `Ledger.append` would write, chain precomputed."""
    rows, prev = [], genesis_hash(run_id)
    for i in range(n):
        p = payload(i)
        fields = {
            "run_id": run_id,
            "seq": i + 1,
            "entry_id": uuid.uuid4().hex,
            "type": "task",
            "ts": time.time(),
            "phase": "build",
            "task_id": None,
            "idempotency_key": p.default_key(),
            "payload": p.model_dump_json(),
        }
        row = fields | {"prev_hash": prev, "hash": entry_hash(prev, fields)}
        rows.append(row)
        prev = row["hash"]
    return rows


def rate(n: int, fn: Callable[[], None]) -> float:
    """Entries per second of `fn` writing `n` entries."""
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def raw_insert(db: Database, rows: list[dict]) -> None:
    """One transaction per row, plain INSERT."""
    for row in rows:
        db.write(lambda conn, row=row: conn.execute(RAW_INSERT, row))


def appends(ledger: Ledger, run_id: str, n: int, writer: int = 0) -> None:
    """`n` appends by one writer."""
    for i in range(n):
        ledger.record(run_id, payload(i, writer))


def threaded(ledger: Ledger, run_id: str, n: int, writers: int) -> None:
    """`writers` threads appending n / writers entries each to one run."""
    threads = [
        threading.Thread(target=appends, args=(ledger, run_id, n // writers, w)) for w in range(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _process_writer(url: str, run_id: str, n: int, writer: int) -> None:
    appends(Ledger(Database(url)), run_id, n, writer)


def in_processes(url: str, run_id: str, per_writer: int, writers: int) -> float:
    """Entries/s of `writers` processes appending `per_writer` entries each to one run."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(url, run_id, per_writer, w)) for w in range(writers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        raise SystemExit("a writer process failed")
    return per_writer * writers / (time.perf_counter() - started)


def forks_and_gaps(db: Database, run_id: str) -> tuple[int, int, int]:
    """(entries, forks, gaps): forks are entries whose prev_hash is not the previous entry's hash."""
    with db.read() as conn:
        entries = read_entries(conn, run_id)
    gaps = sum(1 for i, e in enumerate(entries) if e.seq != i + 1)
    forks = sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.prev_hash != a.hash)
    return len(entries), forks, gaps


@contextmanager
def backend(name: str, pg_url: str, tmp: Path) -> Iterator[str]:
    """A migrated database URL of the backend (a throwaway PostgreSQL schema, dropped after)."""
    if name == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def bench_backend(name: str, url: str, n: int, per_writer: int) -> dict[str, float]:
    """Every figure of one backend."""
    db = Database(url)
    db.setup()
    ledger = Ledger(db)
    raw = rate(n, lambda: raw_insert(db, raw_rows("raw", n)))
    single = rate(n, lambda: appends(ledger, "single", n))
    eight = rate(n, lambda: threaded(ledger, "threads", n, 8))
    procs = in_processes(url, "procs", per_writer, 8)
    total, forks, gaps = forks_and_gaps(db, "procs")
    _, t_forks, t_gaps = forks_and_gaps(db, "threads")
    appends(ledger, "verify10k", 10_000 - 1)
    ledger.sign_head("verify10k")
    started = time.perf_counter()
    report = ledger.verify("verify10k")
    verify_s = time.perf_counter() - started
    db.dispose()
    assert report.ok and report.entries == 10_000, report.summary()
    return {
        "raw": raw,
        "single": single,
        "eight": eight,
        "procs": procs,
        "proc_entries": total,
        "forks": forks + t_forks,
        "gaps": gaps + t_gaps,
        "verify_s": verify_s,
    }


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000, help="entries per throughput measurement")
    parser.add_argument("--per-writer", type=int, default=500, help="entries per writer process (8 writers)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL (a schema is created and dropped)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    header = (
        "| backend | raw INSERT/s | append/s (1 writer) | ratio | append/s (8 threads) | ratio "
        f"| append/s (8 procs × {args.per_writer}) | forks | gaps | verify 10k (s) |"
    )
    print(header)
    print("|---" * 10 + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backends:
            with backend(name, args.pg, Path(tmp)) as url:
                f = bench_backend(name, url, args.entries, args.per_writer)
            print(
                f"| {name} | {f['raw']:.0f} | {f['single']:.0f} | {f['single'] / f['raw']:.2f} "
                f"| {f['eight']:.0f} | {f['eight'] / f['raw']:.2f} | {f['procs']:.0f} "
                f"| {f['forks']} | {f['gaps']} | {f['verify_s']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
