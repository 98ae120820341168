"""Signing the ledger head: HMAC-SHA256 with the key in ``IDEAMINE_LEDGER_KEY`` (never stored or logged)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from ideamine_core.domain.artifact import canonical_json

KEY_ENV = "IDEAMINE_LEDGER_KEY"
ALG = "hmac-sha256"


def head_message(run_id: str, seq: int, head_hash: str) -> bytes:
    """The bytes a head signature covers: the run, the head's seq and its hash."""
    return canonical_json({"run_id": run_id, "seq": seq, "hash": head_hash}).encode()


class Signer:
    """HMAC-SHA256 over a head message; `key_id` is a short fingerprint naming the key, not revealing it."""

    alg = ALG

    def __init__(self, key: bytes) -> None:
        """Sign with `key` (any length; at least 32 random bytes recommended)."""
        if not key:
            raise ValueError("the ledger signing key is empty; set IDEAMINE_LEDGER_KEY to a random string")
        self._key = key
        self.key_id = hashlib.sha256(b"ideamine-ledger-key-id\n" + key).hexdigest()[:16]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Signer | None:
        """The signer for IDEAMINE_LEDGER_KEY, or None when it is unset (heads are then recorded unsigned)."""
        value = (os.environ if env is None else env).get(KEY_ENV, "")
        return cls(value.encode()) if value else None

    def sign(self, message: bytes) -> str:
        """Hex HMAC of `message`."""
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, message: bytes, signature: str) -> bool:
        """True when `signature` is this key's HMAC of `message` (constant-time comparison)."""
        return hmac.compare_digest(self.sign(message), signature)

    def __repr__(self) -> str:
        return f"Signer(alg={self.alg!r}, key_id={self.key_id!r})"
