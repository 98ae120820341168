"""Dossier inputs read from a run's ledger: the signed head and the cost of each phase."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ideamine_core.dossier.model import DossierInputs, PhaseCost
from ideamine_core.ledger import EntryType, Ledger


def phase_costs(cost_payloads: Iterable[Mapping[str, Any]]) -> dict[str, PhaseCost]:
    """Sum `cost` entry payloads per phase; cached responses add tokens but are not counted as calls."""
    totals: dict[str, dict[str, float]] = {}
    for entry in cost_payloads:
        phase = str(entry.get("phase") or entry.get("_phase") or "unknown")
        row = totals.setdefault(phase, {"cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0, "calls": 0})
        row["cost_usd"] += float(entry.get("cost_usd", 0.0))
        row["tokens_in"] += int(entry.get("tokens_in", 0))
        row["tokens_out"] += int(entry.get("tokens_out", 0))
        row["calls"] += 0 if entry.get("cached") else 1
    return {
        phase: PhaseCost(
            cost_usd=round(row["cost_usd"], 6),
            tokens_in=int(row["tokens_in"]),
            tokens_out=int(row["tokens_out"]),
            calls=int(row["calls"]),
        )
        for phase, row in totals.items()
    }


def ledger_inputs(ledger: Ledger, run_id: str, base: DossierInputs | None = None) -> DossierInputs:
    """`base` with the ledger's latest signed head and per-phase costs filled in.

    A run with no ledger entry at all leaves both unset (the dossier lists them as missing): an
    empty ledger is "not recorded", not "free". Costs are recorded when the ledger has entries.
    """
    base = base or DossierInputs()
    if not ledger.entries(run_id, limit=1):
        return base
    costs = phase_costs(ledger.payloads(run_id, EntryType.COST))
    return base.model_copy(update={"ledger_head": ledger.latest_anchor(run_id), "phase_costs": costs})
