"""Fencing tokens: reject writes from a worker whose task lease was taken over (RELIABILITY decision 6).

A lease on a task carries a monotonically increasing token (``tasks.fencing_token``). Every durable
write a task makes (ledger entry, checkpoint, heartbeat) calls :func:`check_fencing` inside the same
transaction, so a paused worker that wakes up after the supervisor restarted its task cannot write.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ideamine_core.errors import StaleFencingTokenError
from ideamine_core.storage.tables import TaskRow


@dataclass(frozen=True)
class Fence:
    """The lease a write is made under: the task and the token its worker holds."""

    task_id: str
    token: int


def check_fencing(conn: Connection, fence: Fence | None) -> None:
    """Raise StaleFencingTokenError if the task's current token is newer than `fence.token`.

    No fence, or no task row yet, means there is nothing to fence against. On PostgreSQL the row
    is locked ``FOR SHARE`` so a concurrent takeover waits for this transaction to finish.
    """
    if fence is None:
        return
    query = sa.select(TaskRow.fencing_token).where(TaskRow.task_id == fence.task_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    current = conn.execute(query).scalar_one_or_none()
    if current is not None and current > fence.token:
        raise StaleFencingTokenError(fence.task_id, fence.token, current)
