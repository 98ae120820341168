"""RELIABILITY 4 on the pipeline: a fault wrapper lets 10 % of ledger appends commit and then raises an
`OperationalError`, as if the commit's answer was lost (Temporal's ExecuteAndTimeout). Over 5 runs of
intake → ideation → critique: every run completes, no ledger entry is duplicated (one succeeded task
entry per agent, one entry per idempotency key) and every chain verifies."""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pipeline_chaos as pc
import pytest
import sqlalchemy as sa

from ideamine_core.ledger import Ledger
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

PHASES = ["intake", "ideation", "critique"]
RUNS, RATE = 5, 0.10


class LostCommits:
    """Decides which ledger appends lose their commit's answer; counts them."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate, self.random, self.lock = rate, random.Random(seed), threading.Lock()
        self.pending = threading.local()
        self.appends = self.injected = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_append, real_write_once = Ledger.append, Database.write_once
        faults = self

        def append(ledger: Ledger, *args: Any, **kwargs: Any) -> Any:
            real_append_in = ledger.append_in

            def append_in(*a: Any, **k: Any) -> Any:
                entry = real_append_in(*a, **k)
                with faults.lock:
                    faults.appends += 1
                    lose = faults.random.random() < faults.rate
                    faults.injected += lose
                faults.pending.lose = lose
                return entry

            ledger.append_in = append_in  # type: ignore[method-assign]
            try:
                return real_append(ledger, *args, **kwargs)
            finally:
                del ledger.append_in

        @contextmanager
        def write_once(db: Database) -> Iterator[sa.Connection]:
            faults.pending.lose = False
            with real_write_once(db) as conn:
                yield conn
            if faults.pending.lose:  # committed; the answer is lost
                faults.pending.lose = False
                raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

        monkeypatch.setattr(Ledger, "append", append)
        monkeypatch.setattr(Database, "write_once", write_once)


def test_lost_commit_answers_never_duplicate_or_break_the_ledger(
    settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    faults = LostCommits(RATE, seed=4)
    faults.install(monkeypatch)
    completed, duplicates, broken, entries = 0, 0, 0, 0
    for n in range(RUNS):
        home = settings.model_copy(update={"home": tmp_path / f"home-{n}"})
        run_id, result = pc.run_in_process(home, instance, PHASES)
        completed += result.success
        ledger = Runtime.of(home).ledger
        rows = ledger.entries(run_id)
        entries += len(rows)
        tasks = collections.Counter(
            (e.data["phase"], e.data["agent"], e.data["iteration"])
            for e in rows
            if e.type == "task" and e.data["status"] == "succeeded"
        )
        keys = collections.Counter(e.idempotency_key for e in rows)
        duplicates += sum(c - 1 for c in tasks.values()) + sum(c - 1 for c in keys.values())
        broken += not ledger.verify(run_id).ok
    print(
        f"\nRELIABILITY 4: runs={RUNS} completed={completed} append_attempts={faults.appends} "
        f"lost_commit_answers={faults.injected} entries={entries} duplicates={duplicates} "
        f"chain_breaks={broken}"
    )
    assert faults.injected >= 5  # the faults really happened
    assert (completed, duplicates, broken) == (RUNS, 0, 0)
