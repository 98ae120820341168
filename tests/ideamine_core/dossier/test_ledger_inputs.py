"""Ledger inputs contract: the dossier copies the ledger's signed head (which `verify` then accepts as the
anchor) and sums `cost` entries per phase; a run with no ledger entry leaves both "not supplied"."""

from __future__ import annotations

from ideamine_core.dossier.ledger_inputs import ledger_inputs, phase_costs
from ideamine_core.dossier.model import DossierInputs, PhaseCost
from ideamine_core.ledger import CostPayload, Ledger, Signer, TaskPayload


def _cost(phase: str, request: str, cost: float, cached: bool = False) -> CostPayload:
    return CostPayload(
        phase=phase,
        agent="A",
        provider="openai",
        model="gpt-4.1-mini",
        request_hash=request,
        tokens_in=100,
        tokens_out=20,
        cost_usd=cost,
        cached=cached,
    )


def test_head_and_costs_come_from_the_ledger(db) -> None:
    ledger = Ledger(db, signer=Signer(b"k" * 32))
    ledger.record("run-a", TaskPayload(phase="intake", agent="Classifier", status="succeeded"))
    for payload in (_cost("prd", "r1", 0.01), _cost("prd", "r2", 0.02), _cost("qa", "r3", 0.0, cached=True)):
        ledger.record("run-a", payload)
    ledger.record("run-b", _cost("prd", "other-run", 9.0))
    anchor = ledger.sign_head("run-a")
    base = DossierInputs(model="openai:gpt-4.1-mini")
    inputs = ledger_inputs(ledger, "run-a", base)
    assert inputs.model == "openai:gpt-4.1-mini"
    assert inputs.ledger_head == anchor and inputs.ledger_head.signature
    assert inputs.phase_costs == {
        "prd": PhaseCost(cost_usd=0.03, tokens_in=200, tokens_out=40, calls=2),
        "qa": PhaseCost(cost_usd=0.0, tokens_in=100, tokens_out=20, calls=0),  # a cache hit is no call
    }
    assert ledger.verify("run-a", anchor=inputs.ledger_head).ok


def test_a_run_without_ledger_entries_supplies_nothing(db) -> None:
    inputs = ledger_inputs(Ledger(db, signer=None), "run-without-entries")
    assert inputs.ledger_head is None and inputs.phase_costs is None


def test_entries_without_costs_mean_no_billed_call(db) -> None:
    ledger = Ledger(db, signer=None)
    ledger.record("run-c", TaskPayload(phase="intake", agent="Classifier", status="succeeded"))
    inputs = ledger_inputs(ledger, "run-c")
    assert inputs.phase_costs == {} and inputs.ledger_head is None  # never signed: no anchor yet


def test_phase_costs_sum_per_phase() -> None:
    rows = [
        {"phase": "build", "cost_usd": 0.1, "tokens_in": 5, "tokens_out": 1},
        {"phase": "build", "cost_usd": 0.2, "tokens_in": 5, "tokens_out": 1, "cached": True},
        {"_phase": "qa", "cost_usd": 0.05},
    ]
    assert phase_costs(rows) == {
        "build": PhaseCost(cost_usd=0.3, tokens_in=10, tokens_out=2, calls=1),
        "qa": PhaseCost(cost_usd=0.05, calls=1),
    }
