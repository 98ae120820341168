"""Named crash points: deterministic process kills and faults for crash tests (RELIABILITY decision 1).

Production code calls ``crash_point("llm.response_cached")`` at the places a crash matters. The call
does nothing unless the environment variable ``IDEAMINE_CRASH_AT`` is set (it is read at call time,
so a test can set it for one child process). Its value is a comma-separated list of rules::

    IDEAMINE_CRASH_AT=llm.response_cached:SIGKILL
    IDEAMINE_CRASH_AT=ledger.task_completed:raise,checkpoint.saved:SIGKILL:after=3
    IDEAMINE_CRASH_AT=artifact.written:sleep=0.08

Actions: a signal name (``SIGKILL``, ``SIGTERM``, ``SIGSTOP``, ...) sent to the current process,
``raise`` (an :class:`InjectedCrash`), ``exit`` (``os._exit(70)``, no clean-up) or ``sleep=SECONDS``
(an injected delay, for race tests). ``after=N`` fires on the N-th hit of that point in this process;
without it a delay applies to every hit and the other actions to the first. Unknown point names are
refused, so a typo cannot make a crash test pass.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from ideamine_core.errors import UserInputError

CRASH_ENV = "IDEAMINE_CRASH_AT"

TASK_PATH_POINTS: tuple[str, ...] = (
    "task.started_logged",
    "llm.request_sent",
    "llm.response_cached",
    "artifact.written",
    "ledger.task_completed",
    "checkpoint.saved",
    "gate.evaluating",
)
"""Crash points on an agent task's path, in the order a task passes them (RELIABILITY test 1)."""

INBOX_POINTS: tuple[str, ...] = ("inbox.partition_added", "inbox.run_requested", "inbox.cursor_written")
"""Crash points of the idea-inbox sensor tick (RELIABILITY test 6)."""

CRASH_POINTS: frozenset[str] = frozenset(TASK_PATH_POINTS + INBOX_POINTS)
"""Every name `crash_point` accepts; add a name here when you add a point to production code."""

EXIT_CODE = 70
"""Exit status of the ``exit`` action."""


class InjectedCrash(RuntimeError):
    """The ``raise`` action of a crash point: an unexpected error, as a bug would raise."""


@dataclass(frozen=True)
class CrashRule:
    """One rule of IDEAMINE_CRASH_AT: at `point`, on hit number `after`, do `action`."""

    point: str
    action: str
    after: int | None = None
    seconds: float = 0.0

    def fires_on(self, hit: int) -> bool:
        """True when this rule acts on hit number `hit` (1-based) of its point."""
        if self.after is None:
            return self.action == "sleep" or hit == 1
        return hit == self.after


_hits: Counter[str] = Counter()
_hits_lock = threading.Lock()

# os.environ.get costs ~1 µs (key encoding, Mapping machinery); a look-up in the dict behind
# os.environ costs ~50 ns and sees every change made through os.environ (monkeypatch included).
_ENV_DATA: dict[object, object] | None = getattr(os.environ, "_data", None)
_ENV_KEY: object = getattr(os.environ, "encodekey", lambda key: key)(CRASH_ENV)


def crash_point(name: str) -> None:
    """Fire the rule for `name` in IDEAMINE_CRASH_AT, if any; nothing at all when it is unset."""
    raw = _ENV_DATA.get(_ENV_KEY) if _ENV_DATA is not None else os.environ.get(CRASH_ENV)
    if raw:
        _maybe_fire(name, os.environ.get(CRASH_ENV, ""))


def _maybe_fire(name: str, spec: str) -> None:
    rules = [rule for rule in parse_crash_spec(spec) if rule.point == name]
    if not rules:
        return
    with _hits_lock:
        _hits[name] += 1
        hit = _hits[name]
    for rule in rules:
        if rule.fires_on(hit):
            _fire(rule)


def _fire(rule: CrashRule) -> None:
    if rule.action == "sleep":
        time.sleep(rule.seconds)
        return
    message = f"ideamine crash point {rule.point}: {rule.action} (pid {os.getpid()})\n"
    os.write(2, message.encode())
    if rule.action == "raise":
        raise InjectedCrash(f"injected crash at {rule.point}")
    if rule.action == "exit":
        os._exit(EXIT_CODE)
    os.kill(os.getpid(), signal.Signals[rule.action])


@lru_cache(maxsize=32)
def parse_crash_spec(spec: str) -> tuple[CrashRule, ...]:
    """The rules of an IDEAMINE_CRASH_AT value; UserInputError naming the bad part."""
    return tuple(_parse_rule(part.strip()) for part in spec.split(",") if part.strip())


def _parse_rule(text: str) -> CrashRule:
    point, _, rest = text.partition(":")
    if point not in CRASH_POINTS:
        raise _bad(text, f"unknown crash point {point!r}; known: {', '.join(sorted(CRASH_POINTS))}")
    action, after, seconds = "SIGKILL", None, 0.0
    for option in (o for o in rest.split(":") if o):
        key, _, value = option.partition("=")
        if key == "after":
            after = _positive_int(text, value)
        elif key == "sleep":
            action, seconds = "sleep", _seconds(text, value)
        elif key in ("raise", "exit"):
            action = key
        elif key.upper() in signal.Signals.__members__:
            action = key.upper()
        else:
            raise _bad(text, f"unknown action {option!r}")
    return CrashRule(point=point, action=action, after=after, seconds=seconds)


def _positive_int(text: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise _bad(text, f"after={value!r} is not a positive integer")
    return int(value)


def _seconds(text: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 3600:
        raise _bad(text, f"sleep={value!r} is not a number of seconds below 3600")
    return seconds


def _bad(text: str, problem: str) -> UserInputError:
    return UserInputError(
        f"{CRASH_ENV}: rule {text!r}: {problem}",
        fix="write rules as point:action[:after=N], e.g. llm.response_cached:SIGKILL, or unset it",
    )


def reset_crash_counts() -> None:
    """Forget the hit counts (tests that reuse one process for several scenarios)."""
    with _hits_lock:
        _hits.clear()
