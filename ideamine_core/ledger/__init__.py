"""Append-only, hash-chained ledger: append, query, sign the head, verify (SPEC section 8)."""

from ideamine_core.ledger.chain import (
    Anchor,
    EntryType,
    LedgerEntry,
    VerifyReport,
    entry_hash,
    genesis_hash,
    verify_entries,
)
from ideamine_core.ledger.payloads import (
    PAYLOADS,
    ArtifactPayload,
    CostPayload,
    DecisionPayload,
    GatePayload,
    Payload,
    SignaturePayload,
    TaskPayload,
    cost_payloads,
)
from ideamine_core.ledger.signing import KEY_ENV, Signer
from ideamine_core.ledger.store import Ledger, anchor_of, read_entries

__all__ = [
    "KEY_ENV",
    "PAYLOADS",
    "Anchor",
    "ArtifactPayload",
    "CostPayload",
    "DecisionPayload",
    "EntryType",
    "GatePayload",
    "Ledger",
    "LedgerEntry",
    "Payload",
    "SignaturePayload",
    "Signer",
    "TaskPayload",
    "VerifyReport",
    "anchor_of",
    "cost_payloads",
    "entry_hash",
    "genesis_hash",
    "read_entries",
    "verify_entries",
]
