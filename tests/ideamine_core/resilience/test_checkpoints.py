"""Checkpoints on SQLite and PostgreSQL: save/load/delete by task, fenced by the writer's lease (a
taken-over worker cannot overwrite its successor's checkpoint), the step pointer only moves forward
(a replayed save is a no-op), and a restarted task resumes after its checkpoint, folding in steps whose
result was made durable before a crash stopped the pointer from advancing."""

from __future__ import annotations

from typing import Any

import pytest

from ideamine_core.errors import StaleFencingTokenError
from ideamine_core.resilience.checkpoints import CheckpointStore, StepCheckpointer, resume_point
from ideamine_core.resilience.leases import Lease, LeaseTable
from ideamine_core.storage.database import Database


@pytest.fixture
def lease(db: Database) -> Lease:
    return LeaseTable(db).acquire("story-task", "worker-a", 30.0, run_id="run-1", phase="story_loop")


def test_save_load_delete(db: Database, lease: Lease) -> None:
    store = CheckpointStore(db)
    assert store.load("story-task") is None
    assert store.save(lease.fence, run_id="run-1", token="story-3", seq=3, data={"done": [1, 2, 3]})
    ckpt = store.load("story-task")
    assert ckpt is not None
    assert (ckpt.token, ckpt.seq, ckpt.data, ckpt.fencing_token) == (
        "story-3",
        3,
        {"done": [1, 2, 3]},
        lease.token,
    )
    assert store.delete(lease.fence) is True
    assert store.load("story-task") is None
    assert store.delete(lease.fence) is False


def test_the_pointer_never_moves_backwards(db: Database, lease: Lease) -> None:
    store = CheckpointStore(db)
    assert store.save(lease.fence, run_id="run-1", token="s5", seq=5, data={"n": 5})
    assert not store.save(lease.fence, run_id="run-1", token="s5", seq=5, data={"n": 5})  # a retry
    assert not store.save(lease.fence, run_id="run-1", token="s4", seq=4, data={"n": 4})  # a late replay
    assert store.load("story-task").seq == 5  # type: ignore[union-attr]


def test_a_taken_over_worker_cannot_write(db: Database, lease: Lease) -> None:
    store = CheckpointStore(db)
    successor = LeaseTable(db).acquire("story-task", "worker-b", 30.0, force=True)
    assert store.save(successor.fence, run_id="run-1", token="s1", seq=1, data={"by": "b"})
    with pytest.raises(StaleFencingTokenError):
        store.save(lease.fence, run_id="run-1", token="s9", seq=9, data={"by": "a"})
    with pytest.raises(StaleFencingTokenError):
        store.delete(lease.fence)
    assert store.load("story-task").data == {"by": "b"}  # type: ignore[union-attr]


def test_prune_and_delete_run(db: Database, lease: Lease) -> None:
    store = CheckpointStore(db, clock=lambda: 100.0)
    store.save(lease.fence, run_id="run-1", token="s1", seq=1, data={})
    assert store.prune(older_than=50.0) == 0
    assert store.prune(older_than=150.0) == 1
    store.save(lease.fence, run_id="run-1", token="s2", seq=2, data={})
    assert store.delete_run("run-1") == 1


def _fold(state: dict[str, Any], step: int, result: Any) -> dict[str, Any]:
    return {"done": [*state.get("done", []), result]}


RESUME_CASES = [
    # (saved pointer, steps with a durable result, next step, recovered steps)
    (None, set(), 0, []),  # a fresh task starts at step 0
    (2, {0, 1, 2}, 3, []),  # pointer at 2, nothing beyond: continue at 3
    (2, {0, 1, 2, 3}, 4, [3]),  # step 3 durable but the pointer did not move (crash): 3 is not re-run
    (None, {0}, 1, [0]),  # no checkpoint yet but step 0's result is durable
]


def test_resume_skips_durable_steps(db: Database) -> None:
    leases = LeaseTable(db)
    for n, (saved_seq, durable_steps, next_step, recovered) in enumerate(RESUME_CASES):
        lease = leases.acquire(f"task-{n}", "w", 30.0, run_id="run-1", phase="story_loop")
        ckpt = StepCheckpointer(CheckpointStore(db), lease.fence, run_id="run-1")
        if saved_seq is not None:
            ckpt.advance(saved_seq, {"done": [f"r{i}" for i in range(saved_seq + 1)]})
        start = ckpt.resume(load_result=lambda i, d=durable_steps: f"r{i}" if i in d else None, fold=_fold)
        done = [f"r{i}" for i in range(next_step)]
        assert (start.next_step, start.recovered, start.state.get("done", [])) == (next_step, recovered, done)


def test_resume_point_without_results_uses_the_pointer_only() -> None:
    assert resume_point(None, first_step=1).next_step == 1
