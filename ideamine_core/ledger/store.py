"""The ledger store: append entries to a run's hash chain, query them, sign the head and verify.

Appends of one run are serialised so the chain never forks: on PostgreSQL by a per-run
``pg_advisory_xact_lock``, on SQLite by the ``BEGIN IMMEDIATE`` write transaction that
``Database.write`` opens. Each entry carries an idempotency key under a unique constraint, so a
retried write (also after an ambiguous commit) returns the entry already written. An optional
fence rejects writes from a worker whose lease was taken over, in the same transaction.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from ideamine_core.domain.artifact import canonical_json
from ideamine_core.errors import LedgerConflictError
from ideamine_core.ledger.chain import (
    Anchor,
    EntryType,
    LedgerEntry,
    VerifyReport,
    entry_hash,
    genesis_hash,
    verify_entries,
)
from ideamine_core.ledger.payloads import Payload, SignaturePayload
from ideamine_core.ledger.signing import Signer, head_message
from ideamine_core.redaction import Redactor, default_redactor
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import Fence, check_fencing
from ideamine_core.storage.tables import LedgerRow

LOCK_NAMESPACE = 0x1D3A_0001
"""First key of the per-run advisory lock (the second is a CRC of the run id)."""

_COLUMNS = [c.name for c in LedgerRow.__table__.columns]
_USE_ENV = object()


def run_lock_key(run_id: str) -> int:
    """The signed 32-bit second key of a run's advisory lock."""
    value = zlib.crc32(run_id.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def lock_run(conn: Connection, run_id: str) -> None:
    """Serialise appends to `run_id` until the transaction ends (PostgreSQL; SQLite is already serial)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": LOCK_NAMESPACE, "key": run_lock_key(run_id)},
        )


def _to_entry(row: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry.model_validate(dict(row))


def read_entries(conn: Connection, run_id: str) -> list[LedgerEntry]:
    """Every entry of a run in ``seq`` order, read on `conn` (also inside a caller's transaction)."""
    query = sa.select(LedgerRow.__table__).where(LedgerRow.run_id == run_id).order_by(LedgerRow.seq)
    return [_to_entry(row) for row in conn.execute(query).mappings()]


# One statement for both backends (SQLite >= 3.35 and PostgreSQL): a duplicate idempotency key
# inserts nothing and returns no row, so the caller knows to return the entry already written.
_INSERT = sa.text(
    f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (run_id, idempotency_key) DO NOTHING RETURNING seq"
)
_HEAD = sa.text("SELECT seq, hash FROM ledger WHERE run_id = :run_id ORDER BY seq DESC LIMIT 1")


class Ledger:
    """Append-only, hash-chained ledger of every run, on the IdeaMine database."""

    def __init__(
        self,
        db: Database,
        *,
        signer: Signer | None | object = _USE_ENV,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`signer` defaults to IDEAMINE_LEDGER_KEY (None: heads are recorded unsigned); payloads are
        redacted with `redactor` (default: the process environment's secrets)."""
        self.db = db
        self._signer = signer
        self._redactor = redactor
        self.clock = clock

    @property
    def signer(self) -> Signer | None:
        """The head signer in use (read from the environment when not given)."""
        return Signer.from_env() if self._signer is _USE_ENV else self._signer  # type: ignore[return-value]

    @property
    def redactor(self) -> Redactor:
        """The redactor applied to payloads before they are hashed and stored."""
        return self._redactor or default_redactor()

    def append(
        self,
        run_id: str,
        entry_type: EntryType | str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        key: str,
        phase: str | None = None,
        task_id: str | None = None,
        fence: Fence | None = None,
    ) -> LedgerEntry:
        """Append one entry (or return the one already written with `key`); retried on transient errors."""
        return self.db.write(
            lambda conn: self.append_in(
                conn, run_id, entry_type, payload, key=key, phase=phase, task_id=task_id, fence=fence
            )
        )

    def record(
        self,
        run_id: str,
        payload: Payload,
        *,
        key: str | None = None,
        task_id: str | None = None,
        fence: Fence | None = None,
    ) -> LedgerEntry:
        """Append a typed payload: its entry type, phase and (unless given) idempotency key come from it."""
        return self.append(
            run_id,
            payload.entry_type,
            payload,
            key=key or payload.default_key(),
            phase=payload.entry_phase(),
            task_id=task_id,
            fence=fence,
        )

    def append_in(
        self,
        conn: Connection,
        run_id: str,
        entry_type: EntryType | str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        key: str,
        phase: str | None = None,
        task_id: str | None = None,
        fence: Fence | None = None,
    ) -> LedgerEntry:
        """Append inside the caller's write transaction (so other rows commit atomically with it)."""
        entry_type = EntryType(entry_type)
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
        redactor = self.redactor
        text, key = canonical_json(redactor.redact_value(data)), redactor.redact(key)
        lock_run(conn, run_id)
        check_fencing(conn, fence)
        head = conn.execute(_HEAD, {"run_id": run_id}).first()
        seq, prev_hash = (head.seq + 1, head.hash) if head else (1, genesis_hash(run_id))
        fields = {
            "run_id": run_id,
            "seq": seq,
            "entry_id": uuid.uuid4().hex,
            "type": entry_type.value,
            "ts": float(self.clock()),
            "phase": phase,
            "task_id": task_id,
            "idempotency_key": key,
            "payload": text,
        }
        row = fields | {"prev_hash": prev_hash, "hash": entry_hash(prev_hash, fields)}
        if conn.execute(_INSERT, row).first() is not None:
            return LedgerEntry.model_validate(row)
        existing = self._by_key(conn, run_id, key)
        if existing is None or existing.type != entry_type.value or existing.payload != text:
            raise LedgerConflictError(run_id, key)
        return existing

    @staticmethod
    def _by_key(conn: Connection, run_id: str, key: str) -> LedgerEntry | None:
        row = (
            conn.execute(
                sa.select(LedgerRow.__table__).where(
                    LedgerRow.run_id == run_id, LedgerRow.idempotency_key == key
                )
            )
            .mappings()
            .first()
        )
        return _to_entry(row) if row else None

    def get(self, run_id: str, key: str) -> LedgerEntry | None:
        """The entry written with idempotency key `key`, if any."""
        return self.db.read_with_retry(lambda conn: self._by_key(conn, run_id, key))

    def entries(
        self,
        run_id: str,
        *,
        types: Iterable[str] | None = None,
        phase: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """A run's entries in ``seq`` order, filtered by type, phase and time (epoch seconds)."""
        query = sa.select(LedgerRow.__table__).where(LedgerRow.run_id == run_id, LedgerRow.seq > after_seq)
        if types:
            query = query.where(LedgerRow.type.in_([str(t) for t in types]))
        if phase is not None:
            query = query.where(LedgerRow.phase == phase)
        if since is not None:
            query = query.where(LedgerRow.ts >= since)
        if until is not None:
            query = query.where(LedgerRow.ts < until)
        query = query.order_by(LedgerRow.seq).limit(limit)
        return self.db.read_with_retry(lambda conn: [_to_entry(r) for r in conn.execute(query).mappings()])

    def payloads(self, run_id: str, entry_type: EntryType | str) -> list[dict[str, Any]]:
        """The decoded payloads of a run's entries of one type, in ``seq`` order, with seq/ts/phase added."""
        return [
            json.loads(e.payload) | {"_seq": e.seq, "_ts": e.ts, "_phase": e.phase}
            for e in self.entries(run_id, types=[str(EntryType(entry_type))])
        ]

    def head(self, run_id: str) -> LedgerEntry | None:
        """The run's last entry, or None for an empty ledger."""
        query = (
            sa.select(LedgerRow.__table__)
            .where(LedgerRow.run_id == run_id)
            .order_by(LedgerRow.seq.desc())
            .limit(1)
        )
        return self.db.read_with_retry(
            lambda conn: next(map(_to_entry, conn.execute(query).mappings()), None)
        )

    def sign_head(self, run_id: str, *, fence: Fence | None = None) -> Anchor:
        """Append a ``signature`` entry over the current head and return the anchor to copy elsewhere.

        Signing a head that is already signed returns its anchor without a new entry. Without
        IDEAMINE_LEDGER_KEY the head is recorded unsigned (alg 'none'); verification says so.
        """
        return self.db.write(lambda conn: self._sign_in(conn, run_id, fence))

    def _sign_in(self, conn: Connection, run_id: str, fence: Fence | None) -> Anchor:
        lock_run(conn, run_id)
        last = conn.execute(
            sa.select(LedgerRow.__table__)
            .where(LedgerRow.run_id == run_id)
            .order_by(LedgerRow.seq.desc())
            .limit(1)
        ).mappings()
        head = next(map(_to_entry, last), None)
        if head is not None and head.type == EntryType.SIGNATURE:
            return anchor_of(head)
        head_seq, head_hash = (head.seq, head.hash) if head else (0, genesis_hash(run_id))
        signer = self.signer
        payload = SignaturePayload(
            head_seq=head_seq,
            head_hash=head_hash,
            alg=signer.alg if signer else "none",
            key_id=signer.key_id if signer else None,
            signature=signer.sign(head_message(run_id, head_seq, head_hash)) if signer else None,
        )
        entry = self.append_in(
            conn, run_id, EntryType.SIGNATURE, payload, key=payload.default_key(), fence=fence
        )
        return anchor_of(entry)

    def latest_anchor(self, run_id: str) -> Anchor | None:
        """The anchor of the run's last signature entry, if any."""
        signed = self.entries(run_id, types=[EntryType.SIGNATURE])
        return anchor_of(signed[-1]) if signed else None

    def verify(self, run_id: str, anchor: Anchor | None = None) -> VerifyReport:
        """Verify the run's whole chain (and `anchor`, the head copied into the dossier, when given)."""
        entries = self.db.read_with_retry(lambda conn: read_entries(conn, run_id))
        return verify_entries(run_id, entries, anchor=anchor, signer=self.signer)


def anchor_of(entry: LedgerEntry) -> Anchor:
    """The anchor recorded by a signature entry."""
    data = json.loads(entry.payload)
    return Anchor(
        run_id=entry.run_id,
        seq=entry.seq,
        hash=entry.hash,
        signed_seq=data["head_seq"],
        signed_hash=data["head_hash"],
        alg=data.get("alg", "none"),
        key_id=data.get("key_id"),
        signature=data.get("signature"),
    )
