"""At most N agents of a phase at once, across processes: N lock files, one held per running agent."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def agent_slot(lock_dir: Path, name: str, slots: int, poll_seconds: float = 0.02) -> Iterator[int]:
    """Hold one of `slots` file locks named after `name` while the block runs; yields the slot index."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(slots):
            fd = os.open(lock_dir / f"{name}.slot{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield index
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(poll_seconds)
