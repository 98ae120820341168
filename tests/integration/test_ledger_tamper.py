"""RELIABILITY test 17: every tampering class is detected by `verify`, with no false positives.

On a 1,000-entry ledger (last entry: the signed head), each mutation is applied with the append-only
triggers bypassed — PostgreSQL as superuser with ``session_replication_role = replica``, SQLite by
dropping the triggers — inside a transaction that is rolled back afterwards. Classes: one byte
flipped in each column, a middle row deleted, two rows swapped, a forged row inserted, a timestamp
changed, the tail truncated, a suffix re-hashed consistently. The last two are only detectable with
the anchor (the signed head copied into the dossier); every class must be detected with it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ideamine_core.domain.artifact import canonical_json
from ideamine_core.ledger import (
    Anchor,
    ArtifactPayload,
    CostPayload,
    DecisionPayload,
    GatePayload,
    Ledger,
    LedgerEntry,
    Signer,
    TaskPayload,
    entry_hash,
    read_entries,
    verify_entries,
)
from ideamine_core.storage.database import Database

RUN = "tamper-run"
N = 1000
SIGNER = Signer(b"test-ledger-key-0123456789abcdef")
UPDATE = "UPDATE ledger SET {col} = :value WHERE run_id = :run AND seq = :seq"
Mutation = Callable[[Connection, list[LedgerEntry]], None]


def payload_for(i: int) -> Any:
    """A mix of every entry type, some with phase and task columns empty."""
    kinds = [
        TaskPayload(phase="build", agent=f"A{i}", status="succeeded", tokens_in=i, cost_usd=0.001),
        GatePayload(phase="prd", attempt=i, score=0.8, threshold=0.7, passed=True),
        DecisionPayload(kind="retry", reason=f"timeout {i}"),
        ArtifactPayload(artifact_id=f"{RUN}/x{i}", name=f"x{i}", kind="tool", content_hash="sha256:00"),
        CostPayload(phase="qa", agent="B", provider="openai", model="m", request_hash=f"h{i}"),
    ]
    return kinds[i % len(kinds)]


@pytest.fixture
def ledger_db(db: Database) -> tuple[Database, Anchor]:
    ledger = Ledger(db, signer=SIGNER)
    for i in range(N - 1):
        ledger.record(RUN, payload_for(i), task_id=f"task-{i}" if i % 3 else None)
    anchor = ledger.sign_head(RUN)
    assert anchor.seq == N
    return db, anchor


@contextmanager
def tampering(db: Database) -> Any:
    """A connection with the append-only triggers bypassed; everything is rolled back at the end."""
    with db.engine.connect() as conn:
        trans = conn.begin()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER ledger_no_update")
            conn.exec_driver_sql("DROP TRIGGER ledger_no_delete")
        try:
            yield conn
        finally:
            trans.rollback()


def flip(text: str, at: int) -> str:
    at %= len(text)
    return text[:at] + chr(ord(text[at]) ^ 0x01) + text[at + 1 :]


def flip_column(col: str, seq: int) -> Mutation:
    def mutate(conn: Connection, entries: list[LedgerEntry]) -> None:
        old = getattr(entries[seq - 1], col)
        if col == "seq":
            value: Any = old ^ (1 << 16)
        elif col == "ts":
            raw = bytearray(struct.pack(">d", old))
            raw[5] ^= 0x01
            value = struct.unpack(">d", bytes(raw))[0]
        else:
            value = flip(old, len(old) // 2)
        conn.execute(sa.text(UPDATE.format(col=col)), {"value": value, "run": RUN, "seq": seq})

    return mutate


def delete_row(seq: int) -> Mutation:
    return lambda conn, _: conn.execute(
        sa.text("DELETE FROM ledger WHERE run_id = :run AND seq = :seq"), {"run": RUN, "seq": seq}
    )


def swap_rows(a: int, b: int) -> Mutation:
    def mutate(conn: Connection, _: list[LedgerEntry]) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            conn.execute(sa.text(UPDATE.format(col="seq")), {"value": new, "run": RUN, "seq": old})

    return mutate


def shift_from(conn: Connection, seq: int, by: int) -> None:
    """Renumber entries seq.. by `by` (via a far offset, so the primary key never collides)."""
    params = {"run": RUN, "seq": seq}
    conn.execute(sa.text("UPDATE ledger SET seq = seq + 1000000 WHERE run_id = :run AND seq >= :seq"), params)
    conn.execute(
        sa.text(f"UPDATE ledger SET seq = seq - 1000000 + {by} WHERE run_id = :run AND seq >= 1000000"),
        {"run": RUN},
    )


def insert_forged(seq: int) -> Mutation:
    """A forged entry with a correctly computed hash linked to its predecessor, later entries shifted."""

    def mutate(conn: Connection, entries: list[LedgerEntry]) -> None:
        shift_from(conn, seq, 1)
        prev = entries[seq - 2]
        fields = prev.model_dump() | {
            "seq": seq,
            "entry_id": "forged",
            "idempotency_key": "forged",
            "payload": canonical_json({"kind": "approve", "reason": "forged"}),
            "type": "decision",
        }
        fields |= {"prev_hash": prev.hash, "hash": entry_hash(prev.hash, fields)}
        cols = ", ".join(fields)
        conn.execute(
            sa.text(f"INSERT INTO ledger ({cols}) VALUES ({', '.join(':' + c for c in fields)})"), fields
        )

    return mutate


def change_ts(seq: int) -> Mutation:
    return lambda conn, entries: conn.execute(
        sa.text(UPDATE.format(col="ts")), {"value": entries[seq - 1].ts + 3600, "run": RUN, "seq": seq}
    )


def truncate(k: int) -> Mutation:
    return lambda conn, _: conn.execute(
        sa.text("DELETE FROM ledger WHERE run_id = :run AND seq > :seq"), {"run": RUN, "seq": N - k}
    )


def rehash_suffix(seq: int) -> Mutation:
    """Edit one payload and recompute every later hash (the signature entry's head too) consistently."""

    def mutate(conn: Connection, entries: list[LedgerEntry]) -> None:
        prev_hash = entries[seq - 2].hash
        for entry in entries[seq - 1 :]:
            fields = entry.model_dump()
            if entry.seq == seq:
                fields["payload"] = canonical_json({"kind": "approve", "reason": "rewritten"})
            if entry.type == "signature":
                data = entry.data | {"head_seq": entry.seq - 1, "head_hash": prev_hash}
                fields["payload"] = canonical_json(data)
            fields |= {"prev_hash": prev_hash, "hash": entry_hash(prev_hash, fields)}
            conn.execute(
                sa.text(
                    "UPDATE ledger SET payload = :payload, prev_hash = :prev_hash, hash = :hash "
                    "WHERE run_id = :run_id AND seq = :seq"
                ),
                fields,
            )
            prev_hash = fields["hash"]

    return mutate


COLUMNS = ("run_id", "seq", "entry_id", "type", "ts", "phase", "task_id", "idempotency_key", "payload")
SAMPLED = (2, 500, 996)  # rows whose phase and task_id are both set

CLASSES: dict[str, list[Mutation]] = {
    # one byte flipped in each column of the sampled rows
    "byte flip": [flip_column(c, s) for c in (*COLUMNS, "prev_hash", "hash") for s in SAMPLED],
    "delete middle row": [delete_row(s) for s in (250, 500, 751)],
    "swap two rows": [swap_rows(a, b) for a, b in ((10, 11), (100, 600), (3, 999))],
    "insert forged row": [insert_forged(s) for s in (2, 500, 999)],
    "change timestamp": [change_ts(s) for s in SAMPLED],
    "truncate tail": [truncate(k) for k in (1, 2, 50)],
    "re-hash suffix": [rehash_suffix(s) for s in (900, 999)],
}


def detected(db: Database, mutation: Mutation, anchor: Anchor | None, signer: Signer | None) -> bool:
    with tampering(db) as conn:
        before = read_entries(conn, RUN)
        mutation(conn, before)
        report = verify_entries(RUN, read_entries(conn, RUN), anchor=anchor, signer=signer)
    return not report.ok


def test_every_tampering_class_is_detected_with_the_anchor(ledger_db: tuple[Database, Anchor]) -> None:
    db, anchor = ledger_db
    figures = []
    for name, mutations in CLASSES.items():
        plain = sum(detected(db, m, None, None) for m in mutations)
        keyed = sum(detected(db, m, None, SIGNER) for m in mutations)
        anchored = sum(detected(db, m, anchor, SIGNER) for m in mutations)
        figures.append(f"{name}: {plain}/{keyed}/{anchored} of {len(mutations)}")
        assert anchored == len(mutations), name
        if name not in ("truncate tail", "re-hash suffix"):
            assert plain == len(mutations), name
    print(f"\n[test17 {db.dialect}] detected without anchor/with key/with anchor: " + "; ".join(figures))


def test_untouched_ledgers_verify_clean(db: Database) -> None:
    ledger = Ledger(db, signer=SIGNER)
    anchors = []
    for r in range(100):
        for i in range(4):
            ledger.record(f"clean-{r}", payload_for(i + r))
        anchors.append(ledger.sign_head(f"clean-{r}"))
    started = time.perf_counter()
    reports = [ledger.verify(f"clean-{r}", anchors[r]) for r in range(100)]
    elapsed = time.perf_counter() - started
    false_positives = sum(not r.ok for r in reports)
    print(
        f"\n[test17 {db.dialect}] false positives on 100 untouched ledgers: {false_positives}; "
        f"verify of 100 × 5 entries: {elapsed:.3f}s"
    )
    assert false_positives == 0
    assert all(r.signatures_checked == 1 and r.anchor_checked for r in reports)
