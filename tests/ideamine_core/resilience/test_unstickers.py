"""Unsticker routines and the slope monitor as pure functions: chunks never exceed the token limit and
keep every word in order; backoff never waits less than Retry-After and is jittered above it; the
model ladder and the strategy list are walked in order and end; the budget report names the budget;
progress that rises is not flat, progress that stalls over the window is."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ideamine_core.resilience.checkpoints import Checkpoint
from ideamine_core.resilience.slope import is_flat, progress_slope
from ideamine_core.resilience.unstickers import (
    DEFAULT_STRATEGIES,
    approx_tokens,
    backoff_delay,
    budget_report,
    escalation,
    kill_local_owner,
    next_model,
    retry_from_checkpoint,
    split_into_chunks,
    switch_strategy,
)

WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=30)
SEPARATORS = st.sampled_from([" ", ". ", "! ", "\n\n", "? "])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.tuples(WORDS, SEPARATORS), min_size=1, max_size=60), limit=st.integers(1, 40))
def test_text_chunks_fit_and_keep_every_word(parts: list[tuple[str, str]], limit: int) -> None:
    text = "".join(w + s for w, s in parts)
    chunks = split_into_chunks(text, limit)
    assert all(approx_tokens(c) <= limit for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_paragraphs_stay_whole_when_they_fit() -> None:
    text = "First paragraph here.\n\nSecond one.\n\nThird paragraph is here."
    assert split_into_chunks(text, 8) == ["First paragraph here.", "Second one.", "Third paragraph is here."]
    assert split_into_chunks(text, 100) == [text]


def test_items_are_grouped_in_order() -> None:
    items = [{"story": i, "text": "x" * 30} for i in range(5)]  # ~12 tokens each as JSON
    chunks = split_into_chunks(items, 30)
    assert [[i["story"] for i in c] for c in chunks] == [[0, 1], [2, 3], [4]]
    assert split_into_chunks([{"big": "y" * 400}], 10) == [[{"big": "y" * 400}]]  # alone, not dropped
    with pytest.raises(ValueError):
        split_into_chunks("x", 0)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rng", "low", "high"),
    [
        # Retry-After 2 s, no jitter drawn: exactly 2 s
        (1, 2.0, 0.0, 2.0, 2.0),
        # Retry-After 2 s, full jitter: above it, by at most half a span
        (1, 2.0, 0.999, 2.0, 2.5),
        # no Retry-After: equal jitter around base * 2^(attempt-1)
        (3, None, 0.0, 2.0, 2.0),
        (3, None, 0.999, 3.99, 4.0),
        # capped
        (20, None, 0.999, 299, 300.0),
    ],
)
def test_backoff_delay(attempt: int, retry_after: float | None, rng: float, low: float, high: float) -> None:
    delay = backoff_delay(attempt, retry_after, rng=lambda: rng)
    assert low <= delay <= high


@given(attempt=st.integers(1, 30), retry_after=st.floats(0, 3600))
def test_backoff_never_waits_less_than_retry_after(attempt: int, retry_after: float) -> None:
    assert backoff_delay(attempt, retry_after) >= retry_after


@pytest.mark.parametrize(
    ("ladder", "current", "expected"),
    [
        (["a", "b", "c"], "a", "b"),  # the next rung
        (["a", "b", "c"], "c", None),  # the last rung: nothing left
        (["a", "b"], "x", "a"),  # a model off the ladder: start at the top
        ([], "a", None),  # no ladder configured
    ],
)
def test_next_model(ladder: list[str], current: str, expected: str | None) -> None:
    assert next_model(ladder, current) == expected


def test_switch_strategy_walks_the_list_then_ends() -> None:
    first = switch_strategy(None)
    assert first is not None and first.name == "step_by_step" and first.instruction
    second = switch_strategy(first.name)
    assert second is not None and second.name == "minimal"
    assert switch_strategy(second.name) is None
    assert switch_strategy("default", DEFAULT_STRATEGIES[:1]) is None


def test_kill_local_owner_only_kills_a_local_worker_process() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    host = socket.gethostname()
    try:
        assert kill_local_owner(f"elsewhere:{sleeper.pid}:1") is None  # another host: fencing only
        assert kill_local_owner(f"{host}:{os.getpid()}:1") is None  # never this process
        assert kill_local_owner("worker-a") is None  # not a host:pid:thread owner
        assert kill_local_owner(f"{host}:{sleeper.pid}:1") == sleeper.pid
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sleeper.kill()


def test_retry_plan_and_reports() -> None:
    ckpt = Checkpoint(task_id="t", run_id="r", token="story-2", seq=2, data={}, fencing_token=3, created_at=0)
    assert retry_from_checkpoint(ckpt, 4) == {
        "resume_from_step": 3,
        "checkpoint_token": "story-2",
        "fenced_at_token": 4,
    }
    report = budget_report({"budget": "cost_usd", "limit": 2.0, "used": 2.1}, "qa")
    assert "budget `cost_usd` exhausted (used 2.1 of 2)" in report and "qa.yaml" in report
    record = escalation("r", "qa", ["tests failing"], 5, now=10.0)
    assert (record.attempts, record.reasons) == (5, ["tests failing"]) and "waiver" in record.how_to_continue


@pytest.mark.parametrize(
    ("samples", "flat"),
    [
        # rising steadily over the 10 s window
        ([(float(t), float(t)) for t in range(11)], False),
        # no change for 10 s
        ([(float(t), 5.0) for t in range(11)], True),
        # too short a history to judge
        ([(8.0, 5.0), (9.0, 5.0), (10.0, 5.0)], False),
        # rose early, flat for the whole window since
        ([(-5.0, 0.0), (-1.0, 3.0)] + [(float(t), 3.0) for t in range(11)], True),
    ],
)
def test_flat_progress(samples: list[tuple[float, float]], flat: bool) -> None:
    assert is_flat(samples, now=10.0, window=10.0)[0] is flat


def test_progress_slope() -> None:
    assert progress_slope([(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]) == pytest.approx(2.0)
    assert progress_slope([(0.0, 1.0)]) == 0.0
