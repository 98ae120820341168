"""Typed ledger payloads: built from what the pipeline already has, with stable idempotency keys.

Contract: a CallRecord gives one task payload (failed unless its outcome is ok) and one cost payload per
request sent upstream (cache hits none); a GateResult gives a gate payload; equal payloads give equal
default keys, so a retried write is recognised.
"""

from __future__ import annotations

from ideamine_core.domain.artifact import GateReason, GateResult
from ideamine_core.ledger import PAYLOADS, DecisionPayload, GatePayload, TaskPayload, cost_payloads
from ideamine_core.providers.base import CallRecord, RequestRecord


def request(h: str, cached: bool) -> RequestRecord:
    return RequestRecord(
        request_hash=h, provider="openai", model="gpt-4.1-mini", tokens_in=100, tokens_out=20,
        cost_usd=None if cached else 0.003, latency_ms=800.0, cached=cached,
    )  # fmt: skip


def test_call_record_gives_task_and_cost_payloads() -> None:
    call = CallRecord(
        run_id="r", phase="prd", agent="PRDWriter", provider="openai", model="gpt-4.1-mini",
        tokens_in=100, tokens_out=20, cost_usd=None, latency_ms=812.0, request_hash="h1",
        requests=[request("h1", False), request("h2", True)], outcome="invalid_output", error="bad json",
    )  # fmt: skip
    task = TaskPayload.from_call(call, attempt=2)
    assert (task.status, task.attempt, task.cost_usd, task.request_hash) == ("failed", 2, 0.0, "h1")
    assert task.default_key() == "task:prd:PRDWriter:0:2"
    costs = cost_payloads(call)
    assert [(c.request_hash, c.cost_usd, c.default_key()) for c in costs] == [("h1", 0.003, "cost:h1")]


def test_gate_payload_from_gate_result_and_default_keys() -> None:
    gate = GateResult(
        phase="prd", score=0.6, threshold=0.7, passed=False, attempts=3,
        reasons=[GateReason(code="missing_artifact", item="NFRs", detail="no output")],
    )  # fmt: skip
    payload = GatePayload.from_gate(gate)
    assert payload.reasons == ["missing_artifact: NFRs: no output"] and payload.default_key() == "gate:prd:3"
    a, b = DecisionPayload(kind="retry", reason="x"), DecisionPayload(kind="retry", reason="x")
    assert a.default_key() == b.default_key() != DecisionPayload(kind="retry", reason="y").default_key()
    assert set(PAYLOADS) == {"task", "gate", "decision", "artifact", "cost", "signature"}
