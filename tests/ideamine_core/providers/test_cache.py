"""The response cache on SQLite and PostgreSQL: write-ahead completion, claims, takeover, no errors stored.

A claim makes concurrent identical requests wait for one upstream call; a completed response is served
exactly as stored; a failed call leaves nothing behind; an expired claim or one whose process died is
taken over; the first completion wins.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import sqlalchemy as sa

from ideamine_core.providers.cache import CallMeta, ResponseCache, new_owner
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import ModelCallRow

META = CallMeta(provider="openai", model="gpt-4.1-mini", run_id="run-1", agent="Persona")
TABLE = ModelCallRow.__table__


def _complete(cache: ResponseCache, key: str, text: str = '{"answer": 1}') -> None:
    cache.complete(key, META, "{}", text, tokens_in=10, tokens_out=5, cost_usd=0.001, latency_ms=12.5)


def _rows(db: Database) -> list[sa.Row]:
    with db.read() as conn:
        return list(conn.execute(sa.select(TABLE)))


def test_claim_complete_get_round_trip(db: Database) -> None:
    cache = ResponseCache(db)
    owner = new_owner()
    assert cache.get("sha256:a") is None
    assert cache.claim("sha256:a", owner, META, '{"req": 1}').status == "claimed"
    assert cache.get("sha256:a") is None  # pending is not a response
    _complete(cache, "sha256:a", '{"text": "NUL \\u0000 and ünïcode"}')
    hit = cache.get("sha256:a")
    assert hit is not None and hit.response_text == '{"text": "NUL \\u0000 and ünïcode"}'
    assert (hit.tokens_in, hit.tokens_out, hit.cost_usd, hit.latency_ms) == (10, 5, 0.001, 12.5)
    assert cache.claim("sha256:a", new_owner(), META, "{}").status == "done"
    assert cache.stored_request("sha256:a") == {"req": 1}
    (row,) = _rows(db)
    assert (row.status, row.run_id, row.agent, row.claim_owner) == ("done", "run-1", "Persona", None)


def test_a_valid_claim_makes_others_wait_and_release_leaves_nothing(db: Database) -> None:
    cache = ResponseCache(db)
    first, second = new_owner(), new_owner()
    assert cache.claim("sha256:b", first, META, "{}").status == "claimed"
    assert cache.claim("sha256:b", second, META, "{}").status == "busy"
    assert cache.claim("sha256:b", first, META, "{}").status == "claimed"  # a retried write is idempotent
    cache.release("sha256:b", second)  # not its claim: nothing happens
    assert len(_rows(db)) == 1
    cache.release("sha256:b", first)  # errors are never cached
    assert _rows(db) == []


def test_an_expired_claim_is_taken_over(db: Database) -> None:
    cache = ResponseCache(db, claim_seconds=0.0)
    assert cache.claim("sha256:c", new_owner(), META, "{}").status == "claimed"
    assert cache.claim("sha256:c", new_owner(), META, "{}").status == "claimed"


def test_a_claim_of_a_dead_process_is_taken_over(db: Database) -> None:
    cache = ResponseCache(db)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    owner = new_owner().split(":")[0] + f":{int(dead.stdout)}:deadbeef"
    assert cache.claim("sha256:d", owner, META, "{}").status == "claimed"
    assert cache.claim("sha256:d", new_owner(), META, "{}").status == "claimed"


def test_the_first_completion_wins_and_a_vanished_claim_still_stores(db: Database) -> None:
    cache = ResponseCache(db)
    cache.claim("sha256:e", new_owner(), META, "{}")
    _complete(cache, "sha256:e", "first")
    _complete(cache, "sha256:e", "second")
    assert cache.get("sha256:e").response_text == "first"  # type: ignore[union-attr]
    _complete(cache, "sha256:f", "no claim row")  # e.g. taken over and released meanwhile
    assert cache.get("sha256:f").response_text == "no claim row"  # type: ignore[union-attr]


def test_acquire_waits_for_the_claimant_to_complete(db: Database) -> None:
    cache = ResponseCache(db, poll_seconds=0.01)
    cache.claim("sha256:g", "other-host:1:x", META, "{}")
    timer = threading.Timer(0.2, lambda: _complete(cache, "sha256:g", "from the other worker"))
    timer.start()
    hit = asyncio.run(cache.acquire("sha256:g", new_owner(), META, "{}"))
    timer.join()
    assert hit is not None and hit.response_text == "from the other worker"


def test_concurrent_claims_have_exactly_one_winner(db: Database) -> None:
    cache = ResponseCache(db)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(cache.claim("sha256:h", new_owner(), META, "{}").status)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["busy"] * 7 + ["claimed"]


def test_the_database_is_opened_lazily(db: Database) -> None:
    opened: list[Database] = []

    def opener() -> Database:
        opened.append(db)
        return db

    cache = ResponseCache(opener)
    assert opened == []
    assert cache.get("sha256:none") is None and opened == [db]
