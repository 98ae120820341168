"""RELIABILITY test 16: the ledger is append-only, and concurrent appends never fork the chain.

As the least-privilege app role on PostgreSQL, UPDATE, DELETE, TRUNCATE and ``ALTER TABLE … DISABLE
TRIGGER`` are all refused while appends work; on SQLite the triggers refuse UPDATE and DELETE. Then
8 writers append to one run, in threads and in processes, on both backends: no forks (every entry
links to the one before it), no gaps (seq is 1..n). CI uses 8 × 100 entries; `bench/ledger.py` runs
8 × 500.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ideamine_core.ledger import Ledger, TaskPayload, read_entries
from ideamine_core.ledger.roles import grant_app_role
from ideamine_core.storage.database import Database
from tests.conftest import PG_URL

WRITERS = 8
PER_WRITER = 100

REFUSED_AS_APP_ROLE = [
    "UPDATE ledger SET ts = 0",
    "DELETE FROM ledger",
    "TRUNCATE ledger",
    "ALTER TABLE ledger DISABLE TRIGGER ledger_append_only",
]


@pytest.fixture
def app_role_url(pg_url: str) -> Iterator[str]:
    """The test schema's URL connected as a fresh least-privilege app role (dropped after)."""
    role = f"ideamine_app_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    owner = Database(pg_url)
    owner.setup()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
    with owner.write_once() as conn:
        grant_app_role(conn, role)
    owner.dispose()
    try:
        yield f"{pg_url}%20-crole%3D{role}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def refused(db: Database, statement: str) -> bool:
    try:
        with db.write_once() as conn:
            conn.exec_driver_sql(statement)
    except sa.exc.DatabaseError:
        return True
    return False


def test_app_role_can_append_but_not_alter_the_ledger(app_role_url: str) -> None:
    db = Database(app_role_url)
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar_one().startswith("ideamine_app_")
    ledger = Ledger(db, signer=None)
    ledger.record("r", TaskPayload(phase="intake", agent="A", status="succeeded"))
    rejected = sum(refused(db, s) for s in REFUSED_AS_APP_ROLE)
    print(f"\n[test16 postgresql app role] rejected {rejected}/{len(REFUSED_AS_APP_ROLE)}")
    assert rejected == len(REFUSED_AS_APP_ROLE)
    assert ledger.verify("r").ok and ledger.verify("r").entries == 1
    db.dispose()


def test_sqlite_triggers_refuse_update_and_delete(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.setup()
    Ledger(db, signer=None).record("r", TaskPayload(phase="intake", agent="A", status="succeeded"))
    rejected = sum(refused(db, s) for s in ("UPDATE ledger SET ts = 0", "DELETE FROM ledger"))
    print(f"\n[test16 sqlite] rejected {rejected}/2")
    assert rejected == 2


def append_many(url: str, run_id: str, writer: int, n: int) -> None:
    """One writer's appends (a process target, so module-level)."""
    ledger = Ledger(Database.for_url(url), signer=None)
    for i in range(n):
        ledger.record(
            run_id, TaskPayload(phase="build", agent=f"W{writer}", status="succeeded", attempt=i + 1)
        )


def forks_and_gaps(db: Database, run_id: str) -> tuple[int, int, int]:
    with db.read() as conn:
        entries = read_entries(conn, run_id)
    gaps = sum(1 for i, e in enumerate(entries) if e.seq != i + 1)
    forks = sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.prev_hash != a.hash)
    return len(entries), forks, gaps


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_concurrent_writers_never_fork_the_chain(db: Database, mode: str) -> None:
    run_id = f"concurrent-{mode}"
    args = [(db.url, run_id, w, PER_WRITER) for w in range(WRITERS)]
    if mode == "threads":
        workers = [threading.Thread(target=append_many, args=a) for a in args]
    else:
        workers = [multiprocessing.get_context("fork").Process(target=append_many, args=a) for a in args]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    elapsed = time.perf_counter() - started
    if mode == "processes":
        assert [w.exitcode for w in workers] == [0] * WRITERS
    entries, forks, gaps = forks_and_gaps(db, run_id)
    print(
        f"\n[test16 {db.dialect} {mode}] {WRITERS}×{PER_WRITER}: entries {entries}, forks {forks}, "
        f"gaps {gaps}, {entries / elapsed:.0f} entries/s"
    )
    assert (entries, forks, gaps) == (WRITERS * PER_WRITER, 0, 0)
    assert Ledger(db, signer=None).verify(run_id).ok
