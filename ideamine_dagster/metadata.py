"""Core results → Dagster metadata values, in one place."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ideamine_core.domain.artifact import GateResult


def gate_metadata(gate: GateResult) -> dict[str, Any]:
    """Score and threshold as numbers the UI can plot, plus attempts and the reasons."""
    reasons = [f"{r.code}: {r.item} — {r.detail}" for r in gate.reasons]
    return {
        "gate_score": dg.MetadataValue.float(gate.score),
        "threshold": dg.MetadataValue.float(gate.threshold),
        "passed": dg.MetadataValue.bool(gate.passed),
        "attempts": dg.MetadataValue.int(gate.attempts),
        "artifacts_valid": dg.MetadataValue.int(sum(gate.checked.values())),
        "artifacts_expected": dg.MetadataValue.int(len(gate.checked)),
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons) or "none"),
    }
