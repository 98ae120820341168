"""RELIABILITY 11 at library level: each scripted failure mode, raised as the model caller raises it,
gets the unsticker of the SPEC section 9 table (6/6): a 429 with Retry-After backs off and the durable
retry timer does not fire before Retry-After; a run of 500s and repeated malformed output fall back to
the next model after K errors; a context-length error splits the input into chunks that fit; an
exhausted budget stops with a report naming it; a gate that keeps failing escalates to a person. Every
decision lands once in the real ledger as a `decision` entry."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from ideamine_core.errors import (
    BudgetExceededError,
    ContextLengthExceededError,
    ModelHTTPError,
    ModelOutputInvalidError,
    RateLimitedError,
)
from ideamine_core.ledger.store import Ledger
from ideamine_core.resilience.decisions import Decision, Failure, FailureMode, Strategy, failure_from_error
from ideamine_core.resilience.heartbeats import DatabaseHeartbeatStore
from ideamine_core.resilience.supervisor import Supervisor, UnstickContext
from ideamine_core.resilience.timers import TimerStore
from ideamine_core.resilience.unstickers import approx_tokens, split_into_chunks
from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(60)]

RUN = "run-ladder"
CTX = UnstickContext(
    model="openai:gpt-4.1", ladder=["openai:gpt-4.1", "openai:gpt-4.1-mini"], max_input_tokens=500
)
RETRY_AFTER = float(os.environ.get("IDEAMINE_LADDER_RETRY_AFTER", "0.5"))  # bench/resilience.py: 2 s


def _ledger_emit(ledger: Ledger) -> Any:
    def emit(decision: Decision) -> None:
        entry = decision.ledger_entry()
        ledger.append(
            RUN,
            entry["type"],
            entry["payload"],
            key=entry["idempotency_key"],
            phase=entry["phase"],
            task_id=entry["task_id"],
        )

    return emit


def _failure(exc: BaseException, task_id: str) -> Failure:
    """The failure the lead reports for an error a task ended with."""
    failure = failure_from_error(exc, run_id=RUN, phase="prd", task_id=task_id)
    assert failure is not None
    return failure


def _until_due(timers: TimerStore, timer_id: str, timeout: float = 10.0) -> float:
    """Poll the durable timers in real time until `timer_id` is claimed; returns when."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(t.timer_id == timer_id for t in timers.due("supervisor")):
            return time.time()
        time.sleep(0.01)
    raise AssertionError(f"timer {timer_id} never fired")


def test_each_failure_mode_gets_its_unsticker(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.setup()
    ledger = Ledger(db, signer=None)
    sup = Supervisor(DatabaseHeartbeatStore(db), emit=_ledger_emit(ledger))
    timers = TimerStore(db)
    chosen: dict[str, Strategy] = {}

    # 1. HTTP 429 with Retry-After: back off, and the durable retry timer waits at least that long
    rate = RateLimitedError("429", provider="openai", model="gpt-4.1", status=429, retry_after=RETRY_AFTER)
    decision = sup.decide(_failure(rate, "t-429"), CTX)
    chosen["rate_limit"] = decision.strategy
    timers.schedule(
        f"retry:{decision.decision_id}", run_id=RUN, kind="retry", fire_at=decision.plan["fire_at"]
    )
    waited = _until_due(timers, f"retry:{decision.decision_id}") - decision.decided_at

    # 2. a run of 500s: back off, back off, then fall back to the next model (K = 3)
    server_error = ModelHTTPError("500", provider="openai", model="gpt-4.1", status=500)
    run_of_500s = [sup.decide(_failure(server_error, "t-500"), CTX) for _ in range(3)]
    chosen["server_errors"] = run_of_500s[-1].strategy

    # 3. the context window: split the input into chunks that fit
    too_long = ContextLengthExceededError("context length exceeded", provider="openai", model="gpt-4.1")
    decision = sup.decide(_failure(too_long, "t-ctx"), CTX)
    chosen["context_length"] = decision.strategy
    prd_input = "\n\n".join(
        f"Story {i}: as a remote team member I want to sync todo item {i} offline." * 4 for i in range(40)
    )
    chunks = split_into_chunks(prd_input, decision.plan["max_tokens"])

    # 4. repeated malformed output (every repair failed, K times): fall back to the next model
    invalid = ModelOutputInvalidError(
        "invalid output", provider="openai", model="gpt-4.1", attempts=3, last_raw_output="{",
        validation_error="EOF", tokens_in=10, tokens_out=1,
    )  # fmt: skip
    malformed = [sup.decide(_failure(invalid, "t-json"), CTX) for _ in range(3)]
    chosen["malformed_output"] = malformed[-1].strategy

    # 5. the budget is spent: stop with a report naming it
    spent = BudgetExceededError("tokens", 10_000, 10_250, phase="prd")
    decision = sup.decide(_failure(spent, "t-budget"), CTX)
    chosen["budget"] = decision.strategy
    report = decision.plan["report"]

    # 6. the gate keeps failing: pause and escalate to a person
    gate = Failure(
        mode=FailureMode.GATE_FAILING,
        run_id=RUN,
        phase="qa",
        count=5,
        evidence={"reasons": ["tests failing"]},
    )
    chosen["gate"] = sup.decide(gate).strategy

    expected = {
        "rate_limit": Strategy.BACKOFF,
        "server_errors": Strategy.FALLBACK_MODEL,
        "context_length": Strategy.SPLIT_INPUT,
        "malformed_output": Strategy.FALLBACK_MODEL,
        "budget": Strategy.STOP,
        "gate": Strategy.ESCALATE,
    }
    decisions = [e for e in ledger.entries(RUN) if e.type == "decision"]
    escalations = [e for e in decisions if '"strategy":"escalate"' in e.payload.replace(" ", "")]
    figures = {
        "strategy_matches_spec": f"{sum(chosen[k] is v for k, v in expected.items())}/6",
        "waited_s": round(waited, 3),
        "retry_after_s": RETRY_AFTER,
        "fallback_after_k": [d.strategy.value for d in run_of_500s],
        "fallback_model": run_of_500s[-1].plan.get("to_model"),
        "chunks": len(chunks),
        "escalations_in_ledger": len(escalations),
        "decision_entries": len(decisions),
    }
    print(f"\nRELIABILITY 11: {figures}")
    assert chosen == expected
    assert waited >= RETRY_AFTER
    assert [d.strategy for d in run_of_500s] == [Strategy.BACKOFF, Strategy.BACKOFF, Strategy.FALLBACK_MODEL]
    assert run_of_500s[-1].plan["to_model"] == "openai:gpt-4.1-mini"
    assert len(chunks) > 1 and all(approx_tokens(c) <= 500 for c in chunks)
    assert "budget `tokens` exhausted" in report
    assert len(escalations) == 1
    assert len(decisions) == 10  # one per decision, none duplicated
    assert ledger.verify(RUN).ok
