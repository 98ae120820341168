"""The ledger's hash chain: entry model, canonical hashing, and verification of a run's chain.

Each entry's hash is ``sha256(prev_hash + "\\n" + canonical JSON of every other column)``, with
``prev_hash`` of the first entry derived from the run id. Verification walks the entries in ``seq``
order and reports the first one that is missing, out of place, unlinked, edited or wrongly signed;
with an anchor (the signed head copied into the release dossier) it also detects a truncated tail
and a consistently re-hashed suffix.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.domain.artifact import canonical_json
from ideamine_core.ledger.signing import Signer, head_message


class EntryType(StrEnum):
    """The kinds of ledger entries."""

    TASK = "task"
    GATE = "gate"
    DECISION = "decision"
    ARTIFACT = "artifact"
    COST = "cost"
    SIGNATURE = "signature"


HASHED_FIELDS = ("run_id", "seq", "entry_id", "type", "ts", "phase", "task_id", "idempotency_key", "payload")
"""Columns covered by an entry's hash (with ``prev_hash``); ``hash`` is the result."""


def genesis_hash(run_id: str) -> str:
    """The ``prev_hash`` of a run's first entry: binds the chain to its run."""
    return "sha256:" + hashlib.sha256(f"ideamine-ledger-genesis\n{run_id}".encode()).hexdigest()


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The chained hash of one entry given the previous entry's hash and the hashed columns."""
    body = canonical_json({name: fields[name] for name in HASHED_FIELDS})
    return "sha256:" + hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


class LedgerEntry(BaseModel):
    """One ledger row: its place in the run's chain, what it records, and its hashes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    seq: int = Field(description="1, 2, 3, … within the run; (run_id, seq) is the primary key.")
    entry_id: str
    type: str = Field(description="One of EntryType (kept as text so a tampered row still loads).")
    ts: float = Field(description="Epoch seconds when the entry was appended.")
    phase: str | None = None
    task_id: str | None = None
    idempotency_key: str
    payload: str = Field(description="Canonical JSON text of the payload, exactly as hashed.")
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        """The payload as a dict."""
        return json.loads(self.payload)

    def recomputed_hash(self) -> str:
        """The hash this entry should carry given its columns and ``prev_hash``."""
        return entry_hash(self.prev_hash, self.model_dump())


class Anchor(BaseModel):
    """A signed chain head: what the release dossier copies so truncation and rewrites are detectable.

    ``seq``/``hash`` name the signature entry that recorded the anchor; ``signed_seq``/``signed_hash``
    the head it signed (the entry before it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    seq: int
    hash: str
    signed_seq: int
    signed_hash: str
    alg: str = Field(description="'hmac-sha256', or 'none' when no IDEAMINE_LEDGER_KEY was set.")
    key_id: str | None = None
    signature: str | None = None


class VerifyReport(BaseModel):
    """The outcome of verifying a run's chain."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    ok: bool
    entries: int
    head_seq: int = 0
    head_hash: str | None = None
    bad_seq: int | None = Field(default=None, description="The first entry found wrong (or missing).")
    problem: str | None = None
    signatures_checked: int = 0
    signatures_unchecked: int = Field(default=0, description="Signature entries not checkable: no key.")
    anchor_checked: bool = False
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: intact or the first bad entry and what is wrong."""
        if self.ok:
            return f"ledger of {self.run_id} intact: {self.entries} entries, head seq {self.head_seq}"
        return f"ledger of {self.run_id} BROKEN at seq {self.bad_seq}: {self.problem}"


def _check_signature_entry(entry: LedgerEntry, signer: Signer | None) -> tuple[str | None, bool]:
    """(problem, checked) for a signature entry: it must sign the entry just before it."""
    try:
        data = entry.data
    except ValueError:
        return "signature entry payload is not JSON", False
    if data.get("head_seq") != entry.seq - 1 or data.get("head_hash") != entry.prev_hash:
        return "signature entry does not sign the entry before it", False
    if data.get("alg") in (None, "none"):
        return None, False
    if signer is None or signer.key_id != data.get("key_id"):
        return None, False
    message = head_message(entry.run_id, entry.seq - 1, entry.prev_hash)
    if not signer.check(message, str(data.get("signature"))):
        return "signature does not match the signed head (forged or re-hashed chain)", True
    return None, True


def _check_entry(entry: LedgerEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            return f"entry {expected_seq} is missing (next entry found is {entry.seq})"
        return f"entry {entry.seq} appears twice or out of order"
    if entry.prev_hash != prev_hash:
        return "prev_hash does not link to the previous entry (deleted, inserted or reordered entries)"
    if entry.recomputed_hash() != entry.hash:
        return "content does not match its hash (the entry was edited)"
    if entry.type not in EntryType.__members__.values():
        return f"unknown entry type {entry.type!r}"
    return None


def verify_entries(
    run_id: str,
    entries: Iterable[LedgerEntry],
    *,
    anchor: Anchor | None = None,
    signer: Signer | None = None,
) -> VerifyReport:
    """Verify a run's entries (in ``seq`` order): links, hashes, signatures and, if given, the anchor."""
    started = time.perf_counter()
    report = VerifyReport(run_id=run_id, ok=True, entries=0)
    prev_hash, expected, by_seq = genesis_hash(run_id), 1, {}
    for entry in entries:
        problem = _check_entry(entry, expected, prev_hash)
        if problem is None and entry.type == EntryType.SIGNATURE:
            problem, checked = _check_signature_entry(entry, signer)
            report.signatures_checked += checked
            report.signatures_unchecked += not checked and problem is None
        if problem is not None:
            report.ok, report.bad_seq, report.problem = False, expected, problem
            break
        report.entries += 1
        report.head_seq, report.head_hash = entry.seq, entry.hash
        by_seq[entry.seq] = entry
        prev_hash, expected = entry.hash, expected + 1
    if report.ok and anchor is not None:
        _check_anchor(report, anchor, by_seq, signer)
    if report.signatures_unchecked:
        report.notes.append(
            f"{report.signatures_unchecked} signature(s) not checked: unsigned, or signed with another key; "
            "set IDEAMINE_LEDGER_KEY to the signing key to check them"
        )
    if anchor is None:
        report.notes.append("no anchor given: a truncated tail or a re-hashed suffix cannot be detected")
    report.seconds = time.perf_counter() - started
    return report


def _check_anchor(
    report: VerifyReport, anchor: Anchor, by_seq: dict[int, LedgerEntry], signer: Signer | None
) -> None:
    report.anchor_checked = True
    entry = by_seq.get(anchor.seq)
    problem: str | None = None
    if anchor.run_id != report.run_id:
        problem = f"the anchor belongs to run {anchor.run_id}"
    elif entry is None:
        problem = f"the ledger ends at seq {report.head_seq}, the anchor records seq {anchor.seq} (truncated)"
    elif entry.hash != anchor.hash:
        problem = "entry differs from the anchored head (the chain was rewritten up to here)"
    elif (anchor.signed_seq, anchor.signed_hash) != (entry.seq - 1, entry.prev_hash):
        problem = "the anchor's signed head is not the entry before the anchor"
    elif anchor.alg != "none" and signer is not None and signer.key_id == anchor.key_id:
        message = head_message(anchor.run_id, anchor.signed_seq, anchor.signed_hash)
        if not signer.check(message, anchor.signature or ""):
            problem = "the anchor's signature is invalid (forged anchor)"
    elif anchor.alg != "none":
        report.notes.append("anchor signature not checked: IDEAMINE_LEDGER_KEY is unset or a different key")
    else:
        report.notes.append("the anchor is unsigned: it is only as trustworthy as the copy it came from")
    if problem is not None:
        report.ok, report.bad_seq, report.problem = False, anchor.seq, problem
