"""Background heartbeat for a running task: a daemon thread that beats its lease every interval.

Two modes. By default each beat says "alive now", which suits one long blocking call (a model
request with its own timeout). With ``follow_work=True`` the thread only carries the work's own
signs of life: the work calls :meth:`HeartbeatThread.touch` as it advances, each beat reports the
time of the last touch, and no beat is sent when there was no touch since the previous one — so a
loop that blocks forever is seen as stalled N intervals after its last step (RELIABILITY test 8).
With ``max_silence`` the default mode stops vouching for work that has not touched for that long, so
a call that blocks forever is also seen as stalled (N intervals later).

Progress for the supervisor's slope monitor: :meth:`HeartbeatThread.set_progress` rides on every later
beat; :meth:`HeartbeatThread.report` beats once, at once, with one sample (a loop reports each
iteration this way, so one long iteration is not mistaken for flat progress).

A beat refused by fencing (the supervisor took the task over) or a failed check (e.g. a wall-clock
budget) sets :attr:`HeartbeatThread.must_stop`; the work should call :meth:`raise_if_stopped` between
steps (or poll the event).
Transient store errors are logged and retried at the next interval. :meth:`stop` is reliable: it
wakes the thread at once and joins it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from ideamine_core.domain.phase import HeartbeatSpec
from ideamine_core.errors import StaleFencingTokenError
from ideamine_core.resilience.heartbeats import HeartbeatStore
from ideamine_core.resilience.leases import Lease

log = logging.getLogger(__name__)

Check = Callable[[], None]
"""Run before each beat; raising stops the work (the error is kept in `lost_reason`)."""


class HeartbeatThread:
    """Beat `lease` every `interval` seconds from a daemon thread; a context manager."""

    def __init__(
        self,
        store: HeartbeatStore,
        lease: Lease,
        *,
        interval: float | None = None,
        follow_work: bool = False,
        checks: Sequence[Check] = (),
        release_status: str | None = None,
        clock: Callable[[], float] = time.time,
        max_silence: float | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.interval = interval if interval is not None else lease.interval
        self.follow_work = follow_work
        self.max_silence = max_silence
        self.checks = list(checks)
        self.release_status = release_status
        self.clock = clock
        self.must_stop = threading.Event()
        self.reason: BaseException | None = None
        self.fenced = False
        self.beats = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._touched_at = clock()
        self._progress: float | None = None
        self._sent_touch = self._touched_at  # taking the lease was the first beat
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{lease.task_id}", daemon=True)

    def touch(self, progress: float | None = None) -> None:
        """The work is alive now (and has reached `progress`, if given); no I/O."""
        with self._lock:
            self._touched_at = self.clock()
            if progress is not None:
                self._progress = progress

    def set_progress(self, progress: float) -> None:
        """Report progress without claiming liveness (for the slope monitor)."""
        with self._lock:
            self._progress = progress

    def report(self, progress: float) -> None:
        """The work finished a step and has reached `progress`: beat now with it as one sample.

        Unlike :meth:`set_progress`, the periodic beats do not repeat the value, so the slope monitor
        gets one sample per step: progress is flat when steps keep ending without progress, not while
        one long step runs (whether that step is alive is the stall detector's business). Also a
        touch. Fenced: StaleFencingTokenError when the task was taken over or revoked; other store
        errors are logged (the sample is lost, the work goes on).
        """
        with self._lock:
            self._touched_at = self.clock()
        try:
            alive = self.store.beat(self.lease, progress)
        except StaleFencingTokenError as exc:
            self._fence(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - a store outage must not stop the work; the sample is lost
            log.warning("progress of task %s not recorded: %s", self.lease.task_id, exc)
            return
        if not alive:
            error = StaleFencingTokenError(self.lease.task_id, self.lease.token, -1)
            self._fence(error)
            raise error

    def raise_if_stopped(self) -> None:
        """Raise why the task must stop (fenced out, budget exceeded), if it must."""
        if self.must_stop.is_set() and self.reason is not None:
            raise self.reason

    def confirm(self) -> None:
        """Beat now, before the work's durable writes: StaleFencingTokenError if it was taken over."""
        with self._lock:
            progress = self._progress
        if not self.store.beat(self.lease, progress):
            self.fenced = True
            raise StaleFencingTokenError(self.lease.task_id, self.lease.token, -1)

    def start(self) -> HeartbeatThread:
        """Start beating (the first beat is one interval after the lease was taken)."""
        self._thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop beating, wait for the thread, and release the lease unless it was taken over."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 30)
        if release and not self.fenced:
            try:
                self.store.release(self.lease, status=self.release_status)
            except StaleFencingTokenError as exc:
                self._fence(exc)

    def __enter__(self) -> HeartbeatThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop and release; the task ends ``done``, or ``failed`` if the block raised (unless a status
        was given)."""
        if self.release_status is None:
            self.release_status = "done" if kind is None else "failed"
        self.stop()

    def _run(self) -> None:
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            if next_at < time.monotonic():  # we were paused (SIGSTOP, swap): do not burst
                next_at = time.monotonic() + self.interval
            if not self._beat_once():
                return

    def _beat_once(self) -> bool:
        """One beat; False when the thread should end (the lease is gone)."""
        try:
            for check in self.checks:
                check()
        except Exception as exc:  # noqa: BLE001 - any failed check stops the work, which re-raises it
            self._request_stop(exc)
        with self._lock:
            touched, progress = self._touched_at, self._progress
        if self.follow_work and touched <= self._sent_touch:
            return True
        if self.max_silence is not None and self.clock() - touched > self.max_silence:
            return True  # the work is silent too long: stop vouching for it, so the supervisor sees a stall
        try:
            alive = self.store.beat(self.lease, progress, at=touched if self.follow_work else None)
        except StaleFencingTokenError as exc:
            self._fence(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a store outage must not kill the task; retried next beat
            log.warning("heartbeat of task %s failed, will retry: %s", self.lease.task_id, exc)
            return True
        self._sent_touch = touched
        self.beats += 1
        if not alive:  # released under us: nothing left to beat or release
            self.fenced = True
        return alive

    def _fence(self, reason: StaleFencingTokenError) -> None:
        self.fenced = True
        self._request_stop(reason)

    def _request_stop(self, reason: BaseException) -> None:
        if not self.must_stop.is_set():
            log.warning("task %s must stop: %s", self.lease.task_id, reason)
            self.reason = reason
            self.must_stop.set()


def worker_id() -> str:
    """A lease owner name for this process and thread: host, pid and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@contextmanager
def leased_task(
    store: HeartbeatStore,
    task_id: str,
    *,
    run_id: str,
    phase: str,
    heartbeat: HeartbeatSpec,
    agent: str = "",
    owner: str | None = None,
    follow_work: bool = False,
    checks: Sequence[Check] = (),
) -> Iterator[HeartbeatThread]:
    """Hold the task's lease and beat it while the block runs (lease ttl = interval × stall threshold).

    The task ends ``done``, or ``failed`` if the block raised; a task taken over meanwhile is left to
    its new holder. Use the yielded thread's ``lease.fence`` for every durable write of the task.
    """
    ttl = heartbeat.interval_seconds * heartbeat.stall_threshold
    lease = store.acquire(
        task_id,
        owner or worker_id(),
        ttl,
        run_id=run_id,
        phase=phase,
        agent=agent,
        interval=heartbeat.interval_seconds,
    )
    with HeartbeatThread(store, lease, follow_work=follow_work, checks=checks) as thread:
        yield thread
