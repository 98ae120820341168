"""Task checkpoints: save, load and delete a task's resume token and data, fenced by its lease.

A long task (the iterative story loop, a chunked input) saves a checkpoint after each step and, when
restarted after a crash, resumes from it. The persistence order is a contract (RELIABILITY
decision 4, the hole in langgraph #8039): **a step's result and its ledger entry are made durable
first, each under an idempotency key of (task, step) and fenced; only then does the checkpoint
pointer advance.** A crash between the two leaves a durable result behind a pointer that did not
move; :func:`resume_point` closes that gap by asking the caller which later steps already have a
durable result, so they are folded into the state instead of being executed again::

    ckpt = StepCheckpointer(store, lease.fence, run_id=run_id)
    start = ckpt.resume(load_result=results.get, fold=add_story)
    state = start.state
    for step in range(start.next_step, len(stories)):
        result = implement(stories[step], state)           # model calls hit the response cache
        results.put(step, result, fence=lease.fence)       # durable first (ledger entry too)
        state = add_story(state, step, result)
        ckpt.advance(step, state)                          # then the pointer

The crash point ``checkpoint.saved`` fires inside the checkpoint transaction, just before it
commits: a kill there loses the pointer but never a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from ideamine_core.resilience.crash import crash_point
from ideamine_core.resilience.leases import Clock
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import Fence, check_fencing
from ideamine_core.storage.tables import CheckpointRow

CHECKPOINTS = CheckpointRow.__table__


class Checkpoint(BaseModel):
    """A task's saved position: an opaque token, a step number and the data to resume with."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    run_id: str
    token: str = Field(description="Opaque resume token chosen by the task, e.g. 'story-7'.")
    seq: int = Field(description="Monotonic step number; a save never moves it backwards.")
    data: dict[str, Any] = Field(description="JSON state to resume with.")
    fencing_token: int = Field(description="Fencing token of the lease the save was made under.")
    created_at: float


class CheckpointStore:
    """Checkpoints in the database; every write is fenced by the writer's lease."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self.db = db
        self.clock = clock

    def save(self, fence: Fence, *, run_id: str, token: str, seq: int, data: dict[str, Any]) -> bool:
        """Store the checkpoint unless one at `seq` or later exists; StaleFencingTokenError if fenced out.

        Idempotent: a retried or replayed save of the same step is a no-op that returns False.
        """

        def txn(conn: Connection) -> bool:
            check_fencing(conn, fence)
            query = sa.select(CHECKPOINTS.c.seq).where(CHECKPOINTS.c.task_id == fence.task_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            current = conn.execute(query).scalar_one_or_none()
            if current is not None and current >= seq:
                return False
            values = dict(
                run_id=run_id,
                token=token,
                seq=seq,
                data=data,
                fencing_token=fence.token,
                created_at=self.clock(),
            )
            if current is None:
                conn.execute(sa.insert(CHECKPOINTS).values(task_id=fence.task_id, **values))
            else:
                conn.execute(
                    sa.update(CHECKPOINTS).where(CHECKPOINTS.c.task_id == fence.task_id).values(**values)
                )
            crash_point("checkpoint.saved")
            return True

        return self.db.write(txn)

    def load(self, task_id: str) -> Checkpoint | None:
        """The task's latest checkpoint, or None."""

        def read(conn: Connection) -> Checkpoint | None:
            row = conn.execute(sa.select(CHECKPOINTS).where(CHECKPOINTS.c.task_id == task_id)).first()
            return Checkpoint.model_validate(row._asdict()) if row is not None else None

        return self.db.read_with_retry(read)

    def delete(self, fence: Fence) -> bool:
        """Drop the task's checkpoint (it finished); fenced. False if there was none."""

        def txn(conn: Connection) -> bool:
            check_fencing(conn, fence)
            return bool(
                conn.execute(sa.delete(CHECKPOINTS).where(CHECKPOINTS.c.task_id == fence.task_id)).rowcount
            )

        return self.db.write(txn)

    def delete_run(self, run_id: str) -> int:
        """Drop every checkpoint of a run (the run completed); returns how many."""
        return self.db.write(
            lambda conn: conn.execute(sa.delete(CHECKPOINTS).where(CHECKPOINTS.c.run_id == run_id)).rowcount
        )

    def prune(self, older_than: float) -> int:
        """Retention clean-up: drop checkpoints saved before `older_than` (epoch seconds)."""
        return self.db.write(
            lambda conn: (
                conn.execute(sa.delete(CHECKPOINTS).where(CHECKPOINTS.c.created_at < older_than)).rowcount
            )
        )


@dataclass
class Resume:
    """Where a restarted task continues: the next step to run and the state to run it with."""

    next_step: int
    state: dict[str, Any]
    checkpoint: Checkpoint | None = None
    recovered: list[int] = field(default_factory=list)
    """Steps whose result was durable although the pointer had not advanced past them (not re-run)."""


LoadResult = Callable[[int], Any | None]
"""The durable result of a step, or None if it has none."""
Fold = Callable[[dict[str, Any], int, Any], dict[str, Any]]
"""Add a step's result to the state: fold(state, step, result) -> new state."""


def resume_point(
    checkpoint: Checkpoint | None,
    *,
    load_result: LoadResult | None = None,
    fold: Fold | None = None,
    first_step: int = 0,
) -> Resume:
    """The next step after `checkpoint`, skipping steps whose result is already durable."""
    step = checkpoint.seq + 1 if checkpoint is not None else first_step
    state = dict(checkpoint.data) if checkpoint is not None else {}
    recovered: list[int] = []
    while load_result is not None and (result := load_result(step)) is not None:
        state = fold(state, step, result) if fold is not None else state
        recovered.append(step)
        step += 1
    return Resume(next_step=step, state=state, checkpoint=checkpoint, recovered=recovered)


class StepCheckpointer:
    """One task's checkpoints as numbered steps: `resume()` once, then `advance()` after each step."""

    def __init__(self, store: CheckpointStore, fence: Fence, *, run_id: str) -> None:
        self.store = store
        self.fence = fence
        self.run_id = run_id

    def resume(self, *, load_result: LoadResult | None = None, fold: Fold | None = None) -> Resume:
        """Where to continue (step 0 with empty state for a fresh task)."""
        return resume_point(self.store.load(self.fence.task_id), load_result=load_result, fold=fold)

    def advance(self, step: int, state: dict[str, Any], *, token: str | None = None) -> bool:
        """Move the pointer past `step`; call only once the step's result is durable."""
        return self.store.save(
            self.fence, run_id=self.run_id, token=token or f"step-{step}", seq=step, data=state
        )

    def finish(self) -> bool:
        """The task completed: drop its checkpoint."""
        return self.store.delete(self.fence)
