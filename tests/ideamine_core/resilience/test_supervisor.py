"""Supervisor on SQLite and PostgreSQL, with a frozen clock (time-machine): a task is stalled after N
missed beats (per phase from the YAML) and gets exactly one decision — retry from its checkpoint —
however many ticks or supervisors look at it; flat progress gets "switch strategy"; each failure mode
the lead reports gets the SPEC section 9 strategy; decisions are recorded in an outbox and handed to
`emit` again until it succeeds; runs whose tasks all stopped beating are reported as dead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from ideamine_core.config.loader import load_phase_configs
from ideamine_core.errors import (
    BudgetExceededError,
    ContextLengthExceededError,
    ModelHTTPError,
    RateLimitedError,
    StaleFencingTokenError,
)
from ideamine_core.resilience.checkpoints import CheckpointStore
from ideamine_core.resilience.decisions import Decision, Failure, FailureMode, Strategy, failure_from_error
from ideamine_core.resilience.heartbeats import DatabaseHeartbeatStore
from ideamine_core.resilience.leases import Lease
from ideamine_core.resilience.supervisor import Supervisor, SupervisorPolicy, UnstickContext
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import RunRow, SupervisorDecisionRow, TaskRow

T0 = 1_800_000_000.0


@pytest.fixture
def traveller() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as travel:
        yield travel


@pytest.fixture
def store(db: Database, traveller: Any) -> DatabaseHeartbeatStore:
    return DatabaseHeartbeatStore(db)


class Recorder:
    """An `emit` that records decisions, optionally failing the first `fail` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.decisions: list[Decision] = []
        self.fail = fail

    def __call__(self, decision: Decision) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("ledger unavailable")
        self.decisions.append(decision)


def _lease(store: DatabaseHeartbeatStore, task: str = "t1", phase: str = "prd", run: str = "run-1") -> Lease:
    return store.acquire(task, "worker-a", 3.0, run_id=run, phase=phase, interval=1.0)


def test_a_stall_after_n_missed_beats_gets_exactly_one_decision(
    store: DatabaseHeartbeatStore, traveller: Any
) -> None:
    emit = Recorder()
    sup = Supervisor(store, emit=emit)
    lease = _lease(store)
    traveller.shift(1.0)
    store.beat(lease, progress=1.0)
    traveller.shift(2.9)  # 2.9 intervals since the last beat: not yet
    assert sup.tick().decisions == []
    traveller.shift(0.1)  # the third beat is now missed
    (decision,) = sup.tick().decisions
    for _ in range(5):
        traveller.shift(1.0)
        assert sup.tick().decisions == []
    assert emit.decisions == [decision]
    assert (decision.mode, decision.strategy) == (FailureMode.STALL, Strategy.RETRY_FROM_CHECKPOINT)
    assert decision.evidence["missed_beats"] == 3 and decision.task_id == "t1"
    assert decision.plan == {
        "resume_from_step": 0,
        "checkpoint_token": None,
        "fenced_at_token": lease.token + 1,
    }
    assert [e for e, _ in decision.events()] == ["phase.stalled", "task.retry"]
    assert decision.events()[1][1]["strategy"] == "retry_from_checkpoint"
    with pytest.raises(StaleFencingTokenError):  # the stalled worker is fenced out if it wakes up
        store.beat(lease)


def test_the_stall_threshold_comes_from_the_phase_yaml(
    store: DatabaseHeartbeatStore, traveller: Any, config_dir: Any
) -> None:
    text = (config_dir / "prd.yaml").read_text().replace("stall_threshold: 3", "stall_threshold: 5")
    (config_dir / "prd.yaml").write_text(text)
    policy = SupervisorPolicy.from_configs(load_phase_configs(config_dir).phases.values())
    assert policy.threshold("prd") == 5 and policy.threshold("intake") == 3
    sup = Supervisor(store, policy=policy)
    _lease(store)
    traveller.shift(4.5)
    assert sup.tick().decisions == []
    traveller.shift(0.5)
    assert len(sup.tick().decisions) == 1


def test_the_retry_plan_resumes_after_the_checkpoint(
    db: Database, store: DatabaseHeartbeatStore, traveller: Any
) -> None:
    lease = _lease(store, phase="story_loop")
    CheckpointStore(db).save(lease.fence, run_id="run-1", token="story-4", seq=4, data={"done": 5})
    traveller.shift(3.0)
    (decision,) = Supervisor(store).tick().decisions
    assert decision.plan["resume_from_step"] == 5 and decision.plan["checkpoint_token"] == "story-4"


def test_flat_progress_switches_strategy_once(store: DatabaseHeartbeatStore, traveller: Any) -> None:
    policy = SupervisorPolicy(flat_intervals=5)
    sup = Supervisor(store, policy=policy)
    rising, flat = _lease(store, task="rising"), _lease(store, task="flat")
    decisions, fenced = [], 0
    for step in range(1, 12):
        traveller.shift(1.0)
        store.beat(rising, progress=float(step))
        try:
            store.beat(flat, progress=2.0)
        except StaleFencingTokenError:  # switched away from: the stuck worker is told to stop
            fenced += 1
        decisions += sup.tick().decisions
    (decision,) = decisions
    assert fenced > 0
    assert (decision.task_id, decision.mode, decision.strategy) == (
        "flat",
        FailureMode.NO_PROGRESS,
        Strategy.SWITCH_STRATEGY,
    )
    assert decision.evidence["slope_per_second"] == 0.0
    assert [e for e, _ in decision.events()] == ["phase.stalled", "task.retry"]


def test_a_failed_emit_is_handed_over_again(
    db: Database, store: DatabaseHeartbeatStore, traveller: Any
) -> None:
    emit = Recorder(fail=1)
    sup = Supervisor(store, emit=emit)
    _lease(store)
    traveller.shift(3.0)
    (decision,) = sup.tick().decisions
    assert emit.decisions == []
    traveller.shift(1.0)
    assert sup.tick().decisions == []  # no new decision ...
    assert emit.decisions == [decision]  # ... but the recorded one was handed over
    sup.tick()
    assert emit.decisions == [decision]
    with db.read() as conn:
        assert conn.execute(sa.select(SupervisorDecisionRow.emitted_at)).scalar_one() is not None


def test_concurrent_supervisors_decide_a_stall_once(
    db: Database, store: DatabaseHeartbeatStore, traveller: Any
) -> None:
    _lease(store)
    traveller.shift(3.0)
    emit = Recorder()
    sups = [Supervisor(DatabaseHeartbeatStore(db), emit=emit) for _ in range(4)]
    barrier = threading.Barrier(len(sups))

    def run(sup: Supervisor) -> None:
        barrier.wait()
        sup.tick()

    threads = [threading.Thread(target=run, args=(s,)) for s in sups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(emit.decisions) == 1


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One SQLite database for the decision table (each row decides a different failure mode)."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('decisions') / 'ideamine.db'}")
    db.setup()
    yield db
    db.dispose()


CTX = UnstickContext(
    model="openai:gpt-4.1", ladder=["openai:gpt-4.1", "openai:gpt-4.1-mini"], max_input_tokens=2000
)


@pytest.mark.parametrize(
    ("failure", "strategy"),
    [
        # 429 with Retry-After: back off
        (Failure(mode=FailureMode.RATE_LIMIT, run_id="r", task_id="t", retry_after=2.0), Strategy.BACKOFF),
        # the K-th model error in a row: fall back to the next model
        (Failure(mode=FailureMode.MODEL_ERRORS, run_id="r", task_id="t", count=3), Strategy.FALLBACK_MODEL),
        # context too long: split the input
        (Failure(mode=FailureMode.CONTEXT_TOO_LONG, run_id="r", task_id="t"), Strategy.SPLIT_INPUT),
        # budget refused before the call with a cheaper model configured: degrade
        (
            Failure(
                mode=FailureMode.BUDGET_EXHAUSTED,
                run_id="r",
                phase="prd",
                evidence={"budget": "cost_usd", "limit": 1, "used": 0.9, "requested": 0.2},
            ),
            Strategy.DEGRADE_MODEL,
        ),
        # the gate keeps failing: escalate to a person
        (
            Failure(
                mode=FailureMode.GATE_FAILING,
                run_id="r",
                phase="prd",
                count=5,
                evidence={"reasons": ["coverage"]},
            ),
            Strategy.ESCALATE,
        ),
        # no progress reported by the lead: switch the agent's strategy
        (Failure(mode=FailureMode.NO_PROGRESS, run_id="r", task_id="t"), Strategy.SWITCH_STRATEGY),
        # a stall reported by the lead: retry from the checkpoint
        (Failure(mode=FailureMode.STALL, run_id="r", task_id="t"), Strategy.RETRY_FROM_CHECKPOINT),
    ],
)
def test_each_failure_mode_gets_its_spec_strategy(
    shared_db: Database, failure: Failure, strategy: Strategy
) -> None:
    emit = Recorder()
    decision = Supervisor(DatabaseHeartbeatStore(shared_db), emit=emit).decide(failure, CTX)
    assert decision.strategy is strategy
    assert emit.decisions == [decision]
    if strategy is Strategy.BACKOFF:
        assert decision.plan["delay_seconds"] >= 2.0
    if strategy is Strategy.FALLBACK_MODEL:
        assert decision.plan["to_model"] == "openai:gpt-4.1-mini"
    if strategy is Strategy.SPLIT_INPUT:
        assert decision.plan == {"max_tokens": 2000}
    if strategy is Strategy.ESCALATE:
        assert (
            decision.plan["reasons"] == ["coverage"] and "ideamine resume" in decision.plan["how_to_continue"]
        )


def test_model_errors_are_counted_until_the_fallback(store: DatabaseHeartbeatStore) -> None:
    sup = Supervisor(store)
    failure = Failure(mode=FailureMode.MODEL_ERRORS, run_id="r", task_id="t")
    strategies = [sup.decide(failure, CTX).strategy for _ in range(3)]
    assert strategies == [Strategy.BACKOFF, Strategy.BACKOFF, Strategy.FALLBACK_MODEL]
    last = UnstickContext(model="openai:gpt-4.1-mini", ladder=CTX.ladder)
    assert sup.decide(failure, last).strategy is Strategy.ESCALATE  # no model left


def test_an_exhausted_budget_without_a_cheaper_model_stops_with_a_report(
    store: DatabaseHeartbeatStore,
) -> None:
    exc = BudgetExceededError("tokens", 1000, 1100, phase="prd")
    failure = failure_from_error(exc, run_id="r", phase="prd")
    assert failure is not None
    decision = Supervisor(store).decide(failure, CTX)
    assert decision.strategy is Strategy.STOP
    assert "budget `tokens` exhausted (used 1100 of 1000)" in decision.plan["report"]
    assert [e for e, _ in decision.events()] == ["budget.exhausted"]


def test_a_refusal_on_the_last_rung_of_the_ladder_stops_even_with_a_cheaper_model_configured(
    store: DatabaseHeartbeatStore,
) -> None:
    # the model caller already degraded down the ladder: nothing is left to degrade to
    exc = BudgetExceededError("cost_usd", 0.001, 0.0, phase="prd", requested=0.0017)
    exc.model, exc.ladder_exhausted = "openai:gpt-4.1-mini", True
    failure = failure_from_error(exc, run_id="r", phase="prd")
    assert failure is not None and failure.evidence["ladder_exhausted"] is True
    decision = Supervisor(store).decide(failure, UnstickContext(model="openai:gpt-4.1", ladder=CTX.ladder))
    assert decision.strategy is Strategy.STOP and decision.plan["budget"] == "cost_usd"
    assert "on openai:gpt-4.1-mini, the last model of its ladder" in decision.plan["report"]


def test_decide_is_idempotent_per_failure_count(db: Database, store: DatabaseHeartbeatStore) -> None:
    emit = Recorder()
    sup = Supervisor(store, emit=emit)
    failure = Failure(mode=FailureMode.RATE_LIMIT, run_id="r", task_id="t", retry_after=1.0, count=1)
    first, again = sup.decide(failure, CTX), sup.decide(failure, CTX)
    assert first == again and emit.decisions == [first]
    gate = Failure(mode=FailureMode.GATE_FAILING, run_id="r", phase="qa", count=5)
    sup.decide(gate)
    assert [d.phase for d in sup.decisions("r", strategy=Strategy.ESCALATE)] == ["qa"]


@pytest.mark.parametrize(
    ("error", "mode"),
    [
        # HTTP 429 with Retry-After
        (
            RateLimitedError("429", provider="openai", model="m", status=429, retry_after=2.0),
            FailureMode.RATE_LIMIT,
        ),
        # a server error
        (ModelHTTPError("503", provider="openai", model="m", status=503), FailureMode.MODEL_ERRORS),
        # the context window
        (ContextLengthExceededError("too long", provider="openai", model="m"), FailureMode.CONTEXT_TOO_LONG),
        # a budget refused before the call
        (BudgetExceededError("cost_usd", 1.0, 0.9, phase="prd", requested=0.3), FailureMode.BUDGET_EXHAUSTED),
        # a bug: no unsticker
        (KeyError("x"), None),
    ],
)
def test_failure_from_error(error: BaseException, mode: FailureMode | None) -> None:
    failure = failure_from_error(error, run_id="r", task_id="t")
    assert (failure.mode if failure else None) is mode
    if mode is FailureMode.RATE_LIMIT:
        assert failure is not None and failure.retry_after == 2.0


def test_dead_runs_are_reported(db: Database, store: DatabaseHeartbeatStore, traveller: Any) -> None:
    with db.write_once() as conn:
        for run in ("dead", "alive", "fresh"):
            conn.execute(
                sa.insert(RunRow).values(
                    run_id=run,
                    idea="x",
                    submission={},
                    phases=[],
                    status="running",
                    created_at=T0,
                    updated_at=T0,
                )
            )
    dead = _lease(store, task="d1", run="dead")
    alive = _lease(store, task="a1", run="alive")
    store.release(dead, status="done")  # its last task ended, then its worker died
    traveller.shift(10.0)
    store.beat(alive)
    sup = Supervisor(store)
    assert [r.run_id for r in sup.dead_runs(dead_after=8.0)] == ["dead", "fresh"]
    (report,) = sup.dead_runs(dead_after=8.0, run_ids=["dead"])
    assert (report.tasks, report.silent_seconds) == (1, 10.0)
    with db.read() as conn:
        assert conn.execute(sa.select(TaskRow.status).where(TaskRow.task_id == "d1")).scalar_one() == "done"
