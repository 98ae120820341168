"""Crash points: IDEAMINE_CRASH_AT is read at call time, each rule fires exactly where and when it says
(signal, raise, exit, delay, on the N-th hit), bad rules are refused with a clear error, and an unset
variable costs next to nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import timeit

import pytest

from ideamine_core.errors import UserInputError
from ideamine_core.resilience.crash import (
    CRASH_ENV,
    CRASH_POINTS,
    EXIT_CODE,
    INBOX_POINTS,
    TASK_PATH_POINTS,
    CrashRule,
    InjectedCrash,
    crash_point,
    parse_crash_spec,
    reset_crash_counts,
)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    reset_crash_counts()


def test_the_canonical_points_are_exported() -> None:
    assert TASK_PATH_POINTS == (
        "task.started_logged",
        "llm.request_sent",
        "llm.response_cached",
        "artifact.written",
        "ledger.task_completed",
        "checkpoint.saved",
        "gate.evaluating",
    )
    assert set(INBOX_POINTS) == {"inbox.partition_added", "inbox.run_requested", "inbox.cursor_written"}
    assert CRASH_POINTS == set(TASK_PATH_POINTS) | set(INBOX_POINTS)


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        # the default action is SIGKILL on the first hit
        ("llm.response_cached", (CrashRule("llm.response_cached", "SIGKILL"),)),
        # an explicit signal, case-insensitive
        ("artifact.written:sigterm", (CrashRule("artifact.written", "SIGTERM"),)),
        # raise on the third hit, plus a second rule
        (
            "ledger.task_completed:raise:after=3, gate.evaluating:exit",
            (CrashRule("ledger.task_completed", "raise", 3), CrashRule("gate.evaluating", "exit")),
        ),
        # an injected delay
        ("checkpoint.saved:sleep=0.08", (CrashRule("checkpoint.saved", "sleep", None, 0.08),)),
    ],
)
def test_parse_rules(spec: str, rules: tuple[CrashRule, ...]) -> None:
    assert parse_crash_spec(spec) == rules


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("llm.respons_cached:SIGKILL", "unknown crash point 'llm.respons_cached'"),  # typo in the point
        ("artifact.written:explode", "unknown action 'explode'"),  # not a signal or action
        ("artifact.written:raise:after=0", "after='0' is not a positive integer"),
        ("artifact.written:sleep=soon", "sleep='soon' is not a number"),
    ],
)
def test_bad_rules_are_refused_with_the_fix(spec: str, problem: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_crash_spec(spec)
    assert problem in info.value.message
    assert "point:action" in info.value.explain()


def test_unset_or_other_points_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CRASH_ENV, raising=False)
    crash_point("artifact.written")
    monkeypatch.setenv(CRASH_ENV, "gate.evaluating:raise")
    crash_point("artifact.written")


def test_raise_fires_on_the_nth_hit_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_ENV, "ledger.task_completed:raise:after=3")
    crash_point("ledger.task_completed")
    crash_point("ledger.task_completed")
    with pytest.raises(InjectedCrash, match="ledger.task_completed"):
        crash_point("ledger.task_completed")
    crash_point("ledger.task_completed")  # the fourth hit passes


def test_sleep_delays_every_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_ENV, "checkpoint.saved:sleep=0.05")
    start = time.perf_counter()
    crash_point("checkpoint.saved")
    crash_point("checkpoint.saved")
    assert time.perf_counter() - start >= 0.1


def _child(spec: str, hits: int) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        from ideamine_core.resilience.crash import crash_point
        for i in range({hits}):
            print("before", i, flush=True)
            crash_point("llm.response_cached")
        print("survived", flush=True)
        """
    )
    env = {"PATH": "/usr/bin:/bin", CRASH_ENV: spec}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(60)
def test_sigkill_kills_the_process_at_the_point() -> None:
    done = _child("llm.response_cached:SIGKILL:after=2", hits=3)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split("\n")[:2] == ["before 0", "before 1"]
    assert "survived" not in done.stdout
    assert "crash point llm.response_cached: SIGKILL" in done.stderr


@pytest.mark.timeout(60)
def test_exit_leaves_without_clean_up() -> None:
    done = _child("llm.response_cached:exit", hits=2)
    assert done.returncode == EXIT_CODE
    assert "survived" not in done.stdout


def test_unset_crash_point_costs_next_to_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CRASH_ENV, raising=False)
    n = 200_000

    def empty(name: str) -> None:
        return None

    point = min(timeit.repeat(lambda: crash_point("llm.response_cached"), number=n, repeat=3)) / n
    baseline = min(timeit.repeat(lambda: empty("llm.response_cached"), number=n, repeat=3)) / n
    print(
        f"\ncrash_point unset: {point * 1e9:.0f} ns/call vs empty function {baseline * 1e9:.0f} ns/call "
        f"(ratio {point / baseline:.1f})"
    )
    assert point < 5e-6  # far below a single database write (~ms)
