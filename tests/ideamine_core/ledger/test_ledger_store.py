"""Ledger conformance suite, run on SQLite and PostgreSQL (the `db` fixture).

Contract: appends get seq 1, 2, 3 … chained by hash; a retried write (also after an ambiguous
commit) returns the entry already written; a reused key with other content is refused; a stale
fencing token is refused in the same transaction; entries are queryable by type, phase and time;
payloads are redacted before hashing; the head can be signed and verified; UPDATE and DELETE are
refused by triggers even for the table owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ideamine_core.errors import LedgerConflictError, StaleFencingTokenError
from ideamine_core.ledger import (
    DecisionPayload,
    EntryType,
    GatePayload,
    Ledger,
    Signer,
    TaskPayload,
    genesis_hash,
)
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import Fence
from ideamine_core.storage.tables import LedgerRow, TaskRow


def task(agent: str, attempt: int = 1, **extra: object) -> TaskPayload:
    return TaskPayload(phase="intake", agent=agent, status="succeeded", attempt=attempt, **extra)


def count(db: Database, run_id: str) -> int:
    with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(LedgerRow).where(LedgerRow.run_id == run_id)
        return conn.execute(query).scalar_one()


def test_appends_are_numbered_and_chained_per_run(db: Database) -> None:
    ledger = Ledger(db, signer=None)
    a = [ledger.record("run-a", task(f"A{i}")) for i in range(3)]
    b = ledger.record("run-b", task("B0"))
    assert [e.seq for e in a] == [1, 2, 3] and b.seq == 1
    assert a[0].prev_hash == genesis_hash("run-a") and b.prev_hash == genesis_hash("run-b")
    assert [e.prev_hash for e in a[1:]] == [e.hash for e in a[:-1]]
    assert all(e.recomputed_hash() == e.hash for e in a)
    assert ledger.verify("run-a").ok and ledger.verify("run-b").ok


def test_a_retried_write_returns_the_entry_already_written(db: Database) -> None:
    ledger = Ledger(db, signer=None)
    first = ledger.record("r", task("Classifier"))
    again = ledger.record("r", task("Classifier"))
    assert again == first
    assert count(db, "r") == 1


def test_a_key_reused_for_different_content_is_refused(db: Database) -> None:
    ledger = Ledger(db, signer=None)
    ledger.append("r", EntryType.DECISION, {"kind": "retry"}, key="k1")
    with pytest.raises(LedgerConflictError, match="k1"):
        ledger.append("r", EntryType.DECISION, {"kind": "fallback"}, key="k1")
    assert count(db, "r") == 1


class AmbiguousCommitDatabase(Database):
    """Commits the transaction, then raises a transient error as if the commit's answer was lost."""

    failures = 0

    @contextmanager
    def write_once(self) -> Iterator[Connection]:
        with super().write_once() as conn:
            yield conn
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("COMMIT", {}, Exception("database is locked"))


def test_ambiguous_commit_is_retried_without_a_duplicate(db: Database) -> None:
    flaky = AmbiguousCommitDatabase(db.url)
    ledger = Ledger(flaky, signer=None)
    flaky.failures = 1
    entry = ledger.record("r", task("Expander"))
    flaky.failures = 3
    second = ledger.record("r", task("Validator"))
    assert (entry.seq, second.seq) == (1, 2)
    assert count(db, "r") == 2
    assert flaky.retries_absorbed == 4
    assert Ledger(db, signer=None).verify("r").ok
    flaky.dispose()


def test_stale_fencing_token_is_refused_and_nothing_is_written(db: Database) -> None:
    with db.write_once() as conn:
        conn.execute(
            sa.insert(TaskRow).values(task_id="t1", run_id="r", phase="intake", agent="A", fencing_token=2)
        )
    ledger = Ledger(db, signer=None)
    with pytest.raises(StaleFencingTokenError):
        ledger.record("r", task("A"), fence=Fence("t1", 1), task_id="t1")
    entry = ledger.record("r", task("A"), fence=Fence("t1", 2), task_id="t1")
    assert entry.seq == 1 and entry.task_id == "t1"
    assert count(db, "r") == 1


def test_query_by_type_phase_and_time(db: Database) -> None:
    clock = iter([100.0, 200.0, 300.0, 400.0])
    ledger = Ledger(db, signer=None, clock=lambda: next(clock))
    ledger.record("r", task("A"))
    ledger.record("r", GatePayload(phase="intake", attempt=1, score=0.9, threshold=0.7, passed=True))
    ledger.record("r", DecisionPayload(kind="retry", reason="timeout", phase="prd"))
    ledger.record("r", GatePayload(phase="prd", attempt=1, score=0.5, threshold=0.7, passed=False))
    assert [e.seq for e in ledger.entries("r", types=["gate"])] == [2, 4]
    assert [e.seq for e in ledger.entries("r", phase="prd")] == [3, 4]
    assert [e.seq for e in ledger.entries("r", since=200.0, until=400.0)] == [2, 3]
    assert [p["score"] for p in ledger.payloads("r", "gate")] == [0.9, 0.5]
    assert ledger.head("r").seq == 4 and ledger.head("nothing") is None


def test_payloads_are_redacted_before_they_are_hashed(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "canary-openai-4f1e9a7c2b")
    ledger = Ledger(db, signer=None)
    entry = ledger.record("r", task("A", error="401 for key canary-openai-4f1e9a7c2b"))
    assert "canary-openai" not in entry.payload
    assert "[REDACTED:OPENAI_API_KEY]" in entry.data["error"]
    assert ledger.verify("r").ok


def test_signed_head_is_checked_with_the_key(db: Database) -> None:
    signer = Signer(b"k" * 32)
    ledger = Ledger(db, signer=signer)
    ledger.record("r", task("A"))
    anchor = ledger.sign_head("r")
    assert (anchor.seq, anchor.signed_seq, anchor.alg) == (2, 1, "hmac-sha256")
    assert ledger.sign_head("r") == anchor, "signing an already signed head adds nothing"
    report = ledger.verify("r", anchor)
    assert report.ok and report.signatures_checked == 1 and report.anchor_checked
    other = Ledger(db, signer=Signer(b"another key"))
    assert other.verify("r", anchor).ok
    assert other.verify("r", anchor).signatures_unchecked == 1


def test_without_a_key_the_head_is_recorded_unsigned(db: Database) -> None:
    ledger = Ledger(db, signer=None)
    ledger.record("r", task("A"))
    anchor = ledger.sign_head("r")
    assert anchor.alg == "none" and anchor.signature is None
    report = ledger.verify("r", anchor)
    assert report.ok and any("unsigned" in note for note in report.notes)
    assert ledger.latest_anchor("r") == anchor


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger SET ts = 0",  # edit in place
        "DELETE FROM ledger",  # remove entries
    ],
)
def test_triggers_refuse_update_and_delete_even_for_the_owner(db: Database, statement: str) -> None:
    Ledger(db, signer=None).record("r", task("A"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with db.write_once() as conn:
            conn.exec_driver_sql(statement)
    assert count(db, "r") == 1


def test_the_truncate_trigger_refuses_the_owner_on_postgresql(pg_url: str) -> None:
    # the owner holds every privilege, so only the trigger can be what refuses it
    db = Database(pg_url)
    db.setup()
    try:
        Ledger(db, signer=None).record("r", task("A"))
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with db.write_once() as conn:
                conn.exec_driver_sql("TRUNCATE ledger")
        assert count(db, "r") == 1
    finally:
        db.dispose()
