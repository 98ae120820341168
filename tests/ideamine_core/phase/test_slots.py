"""An integer parallelism N lets at most N agents of a phase run at once, across threads and processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ideamine_core.phase.slots import agent_slot


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_never_more_than_n_holders_at_once(tmp_path: Path, slots: int) -> None:
    lock = threading.Lock()
    running, peak = 0, 0

    def agent() -> None:
        nonlocal running, peak
        with agent_slot(tmp_path, "ideation", slots, poll_seconds=0.005):
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.05)
            with lock:
                running -= 1

    threads = [threading.Thread(target=agent) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == slots


def test_slots_are_released_when_the_agent_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with agent_slot(tmp_path, "p", 1):
            raise RuntimeError("agent failed")
    with agent_slot(tmp_path, "p", 1) as index:
        assert index == 0
