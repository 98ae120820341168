"""Chaos scenarios for the resilience libraries (RELIABILITY 3, 8, 9, 10, 12), shared by tests/chaos and
bench/resilience.py, and the entry point of the worker processes they start.

Each scenario runs real processes against the real database and Redis and returns its figures as a
dict; the tests assert on them with small counts, the bench prints them at full counts. Workers are
started as ``python resilience_scenarios.py ROLE JSON-ARGS`` and report through a JSON-lines file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from ideamine_core.errors import ModelHTTPError, ServiceUnavailableError, StaleFencingTokenError
from ideamine_core.resilience.breaker_storage import DatabaseBreakerStorage, RedisBreakerStorage
from ideamine_core.resilience.checkpoints import CheckpointStore, StepCheckpointer
from ideamine_core.resilience.circuit_breaker import BreakerPolicy, BreakerStorage, CircuitBreaker, State
from ideamine_core.resilience.crash import CRASH_ENV, crash_point
from ideamine_core.resilience.decisions import Decision
from ideamine_core.resilience.heartbeat_thread import HeartbeatThread, worker_id
from ideamine_core.resilience.heartbeats import DatabaseHeartbeatStore, HeartbeatStore, heartbeat_store
from ideamine_core.resilience.redis_heartbeats import RedisHeartbeatStore
from ideamine_core.resilience.supervisor import Supervisor, SupervisorPolicy
from ideamine_core.storage.database import Database

HERE = Path(__file__).resolve()


# --- plumbing ----------------------------------------------------------------------------------------


def spawn(role: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a worker process running `role` with `args`."""
    child_env = {k: v for k, v in os.environ.items() if k != CRASH_ENV} | (env or {})
    return subprocess.Popen(
        [sys.executable, str(HERE), role, json.dumps(args)], env=child_env, stderr=subprocess.DEVNULL
    )


def read_log(path: Path) -> list[dict[str, Any]]:
    """The events a worker wrote so far."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Any, timeout: float, step: float = 0.02) -> bool:
    """Poll `predicate()` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a worker whatever its state (stopped ones too) and reap it."""
    if proc.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                break
    proc.wait(timeout=30)


class Log:
    """A worker's JSON-lines report."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, event: str, **data: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "t": time.time(), "pid": os.getpid()} | data) + "\n")


class Recorder:
    """A supervisor `emit` that keeps every decision with the time it was made."""

    def __init__(self) -> None:
        self.decisions: list[tuple[float, Decision]] = []

    def __call__(self, decision: Decision) -> None:
        self.decisions.append((time.time(), decision))

    def for_task(self, task_id: str) -> list[tuple[float, Decision]]:
        """The decisions about one task."""
        return [(t, d) for t, d in self.decisions if d.task_id == task_id]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a spare port, with nothing kept on disk; stop and start it at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (empty) and wait until it answers."""
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            if not wait_for(lambda: _pings(client), 10):
                raise RuntimeError(f"redis-server did not start on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        """Kill it (its data is gone: nothing is persisted)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def ended_when_idle_in_transaction(db_url: str, ms: int = 1000) -> str:
    """On PostgreSQL, have the server end a session paused inside a transaction after `ms`, as production
    should (so a paused worker cannot hold the task-row lock a takeover waits for)."""
    if not db_url.startswith("postgresql"):
        return db_url
    option = f"-cidle_in_transaction_session_timeout%3D{ms}"
    if "options=" in db_url:
        return db_url.replace("options=", f"options={option}%20", 1)
    return f"{db_url}{'&' if '?' in db_url else '?'}options={option}"


def store_for(db_url: str, redis_url: str | None, prefix: str) -> HeartbeatStore:
    """The heartbeat store of a worker or supervisor (database, or Redis over the database)."""
    db = Database.for_url(db_url)
    if redis_url is None:
        return DatabaseHeartbeatStore(db)
    return RedisHeartbeatStore(db, redis.Redis.from_url(redis_url, socket_timeout=0.5), prefix=prefix)


# --- worker roles ---------------------------------------------------------------------------------


def role_beat(a: dict[str, Any]) -> None:
    """A task that heartbeats and advances; optionally blocks forever after `block_after` seconds."""
    log = Log(a["log"])
    store = store_for(a["db"], a.get("redis"), a.get("prefix", "ideamine:"))
    lease = store.acquire(
        a["task"], worker_id(), a["ttl"], run_id=a["run"], phase="prd", interval=a["interval"]
    )
    hb = HeartbeatThread(store, lease, follow_work=a.get("follow_work", False)).start()
    started, step = time.time(), 0
    log("ready", token=lease.token)
    while True:
        step += 1
        hb.touch(progress=float(step))
        if a.get("block_after") is not None and time.time() - started > a["block_after"]:
            log("blocked")
            threading.Event().wait()  # an agent that never returns
        if step % 20 == 0:
            s = store.stats
            log("stats", beats=s.beats, fallbacks=s.fallbacks, restored=s.restored, hb_beats=hb.beats)
        time.sleep(0.02)


def role_zombie(a: dict[str, Any]) -> None:
    """A worker that writes a checkpoint and a ledger entry per step under its lease, logging each
    write accepted or rejected; it ignores the stop signal so its writes after a pause are tried."""
    from ideamine_core.ledger.store import Ledger  # imported here: a slow import the other roles skip

    log = Log(a["log"])
    db = Database.for_url(a["db"])
    store = DatabaseHeartbeatStore(db)
    lease = store.acquire(
        a["task"], "worker-A", a["ttl"], run_id=a["run"], phase="story_loop", interval=a["interval"]
    )
    hb = HeartbeatThread(store, lease).start()
    checkpoints, ledger = CheckpointStore(db), Ledger(db, signer=None)
    log("ready", token=lease.token)
    for step in range(1, 10_000):
        try:
            ledger.append(
                a["run"],
                "task",
                {"by": "A", "step": step},
                key=f"A-{step}",
                task_id=a["task"],
                fence=lease.fence,
            )
            checkpoints.save(lease.fence, run_id=a["run"], token=f"A-{step}", seq=step, data={"by": "A"})
            log("accepted", step=step, token=lease.token)
        except StaleFencingTokenError as exc:
            log("rejected", step=step, token=exc.token, current=exc.current)
            reason = hb.reason
            if isinstance(reason, StaleFencingTokenError):
                log("heartbeat_rejected", token=reason.token, current=reason.current)
            return
        time.sleep(a["interval"] / 2)


def role_steps(a: dict[str, Any]) -> None:
    """A long task of `steps` steps: result + ledger entry durable first, then the checkpoint pointer."""
    from ideamine_core.ledger.store import Ledger  # imported here: a slow import the other roles skip

    log = Log(a["log"])
    db = Database.for_url(a["db"])
    store, ledger = DatabaseHeartbeatStore(db), Ledger(db, signer=None)
    lease = (
        store.take_over(a["task"], f"worker-{os.getpid()}", 30.0)
        if a["resume"]
        else store.acquire(a["task"], f"worker-{os.getpid()}", 30.0, run_id=a["run"], phase="story_loop")
    )
    ckpt = StepCheckpointer(CheckpointStore(db), lease.fence, run_id=a["run"])

    def durable(step: int) -> Any | None:
        entry = ledger.get(a["run"], f"step-{step}")
        return json.loads(entry.payload) if entry is not None else None

    start = ckpt.resume(load_result=durable, fold=lambda s, i, r: {"sum": s.get("sum", 0) + r["value"]})
    log("resume", next_step=start.next_step, recovered=start.recovered)
    state = start.state
    for step in range(start.next_step, a["steps"]):
        log("exec", step=step)
        value = step * step

        def write(conn: Any, step: int = step, value: int = value) -> None:
            ledger.append_in(
                conn, a["run"], "task", {"step": step, "value": value}, key=f"step-{step}", fence=lease.fence
            )
            crash_point("artifact.written")  # inside the result transaction: a delay here delays its commit

        db.write(write)
        crash_point("ledger.task_completed")  # the result is durable, the pointer has not moved yet
        state = {"sum": state.get("sum", 0) + value}
        ckpt.advance(step, state)
    log("done", state=state)


def role_breaker(a: dict[str, Any]) -> None:
    """Call the fake provider through a shared circuit breaker for `seconds`, logging what it sees."""
    import urllib.error
    import urllib.request

    log = Log(a["log"])
    if a.get("redis"):
        storage: BreakerStorage = RedisBreakerStorage(redis.Redis.from_url(a["redis"]), prefix=a["prefix"])
    else:
        storage = DatabaseBreakerStorage(Database.for_url(a["db"]))
    breaker = CircuitBreaker(storage, BreakerPolicy(**a["policy"]))
    stop_file, last = Path(a["stop_file"]), None
    while not stop_file.exists():
        if not breaker.allow("fake"):
            if last != "refused":
                log("refused")
            last = "refused"
            time.sleep(a["pace"])
            continue
        try:
            with urllib.request.urlopen(a["url"], timeout=2) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status >= 500:
            breaker.on_failure(
                "fake", ModelHTTPError(f"HTTP {status}", provider="fake", model="m", status=status)
            )
        else:
            breaker.on_success("fake")
        state = breaker.known_state("fake") or State.CLOSED
        if state.value != last:
            log(state.value, status=status)
        last = state.value
        time.sleep(a["pace"])


ROLES = {"beat": role_beat, "zombie": role_zombie, "steps": role_steps, "breaker": role_breaker}


# --- scenarios ----------------------------------------------------------------------------------------


def supervise(sup: Supervisor, until: Any, timeout: float, every: float) -> int:
    """Tick the supervisor every `every` seconds until `until()` or `timeout`; returns tick errors."""
    errors, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline and not until():
        try:
            sup.tick()
        except Exception:  # noqa: BLE001 - counted: a tick must survive outages
            errors += 1
        time.sleep(every)
    return errors


def stall_detection(
    db_url: str, workdir: Path, *, interval: float = 0.2, threshold: int = 3
) -> dict[str, Any]:
    """RELIABILITY 8: a SIGSTOPped worker and a blocked agent are detected within (N+1)·h, once each,
    while a healthy worker beside them is left alone."""
    rec = Recorder()
    sup = Supervisor(
        DatabaseHeartbeatStore(Database.for_url(db_url)),
        emit=rec,
        policy=SupervisorPolicy(stall_threshold=threshold, kill_local_workers=True),
    )
    base = {"db": db_url, "run": "run-stall", "interval": interval, "ttl": threshold * interval}
    logs = {name: workdir / f"{name}.jsonl" for name in ("stopped", "blocked", "healthy")}
    procs = {
        "stopped": spawn("beat", base | {"task": "stopped", "log": str(logs["stopped"])}),
        "blocked": spawn(
            "beat",
            base | {"task": "blocked", "log": str(logs["blocked"]), "follow_work": True, "block_after": 0.6},
        ),
        "healthy": spawn("beat", base | {"task": "healthy", "log": str(logs["healthy"])}),
    }
    try:
        assert wait_for(lambda: all(read_log(p) for p in logs.values()), 30), "workers did not start"
        time.sleep(0.6)
        os.kill(procs["stopped"].pid, signal.SIGSTOP)
        stopped_at = time.time()
        both = lambda: rec.for_task("stopped") and rec.for_task("blocked")  # noqa: E731
        errors = supervise(sup, both, 20, interval / 4)
        supervise(sup, lambda: False, 1.5 * (threshold + 1) * interval, interval / 4)  # no repeats
    finally:
        for proc in procs.values():
            stop(proc)
    blocked_at = next(e["t"] for e in read_log(logs["blocked"]) if e["event"] == "blocked")
    figures: dict[str, Any] = {"bound_s": (threshold + 1) * interval, "tick_errors": errors}
    for task, since in (("stopped", stopped_at), ("blocked", blocked_at)):
        found = rec.for_task(task)
        figures[f"{task}_decisions"] = len(found)
        figures[f"{task}_latency_s"] = round(found[0][1].decided_at - since, 3) if found else None
        figures[f"{task}_recorded_after_s"] = round(found[0][0] - since, 3) if found else None
        figures[f"{task}_retry_strategy"] = (
            [d["strategy"] for e, d in found[0][1].events() if e == "task.retry"] if found else []
        )
        figures[f"{task}_stalled_events"] = sum(e == "phase.stalled" for _, d in found for e, _ in d.events())
    figures["false_stalls"] = len(rec.for_task("healthy"))
    return figures


def zombie_fencing(
    db_url: str, workdir: Path, *, interval: float = 0.2, threshold: int = 3
) -> dict[str, Any]:
    """RELIABILITY 9: pause worker A past its lease, let the supervisor fence it and B take over, wake A."""
    from ideamine_core.ledger.store import Ledger

    db_url = ended_when_idle_in_transaction(db_url)
    db = Database.for_url(db_url)
    store = DatabaseHeartbeatStore(db)
    rec = Recorder()
    sup = Supervisor(store, emit=rec, policy=SupervisorPolicy(stall_threshold=threshold))
    log_path = workdir / "zombie.jsonl"
    a = spawn(
        "zombie",
        {
            "db": db_url,
            "run": "run-z",
            "task": "story",
            "interval": interval,
            "ttl": threshold * interval,
            "log": str(log_path),
        },
    )
    try:
        assert wait_for(
            lambda: sum(e["event"] == "accepted" for e in read_log(log_path)) >= 3, 30, step=0.005
        )
        os.kill(a.pid, signal.SIGSTOP)  # right after a step's writes: A pauses between transactions
        supervise(sup, lambda: rec.for_task("story"), 20, interval / 4)
        taken_at = time.time()
        b = store.acquire("story", "worker-B", 30.0, interval=interval)  # the retried task, as B
        Ledger(db, signer=None).append(
            "run-z", "task", {"by": "B"}, key="B-1", task_id="story", fence=b.fence
        )
        CheckpointStore(db).save(b.fence, run_id="run-z", token="B-1", seq=10_000, data={"by": "B"})
        os.kill(a.pid, signal.SIGCONT)
        a.wait(timeout=30)
    finally:
        stop(a)
    events = read_log(log_path)
    after = [e for e in events if e["t"] > taken_at]
    ckpt = CheckpointStore(db).load("story")
    entries = Ledger(db, signer=None).entries("run-z")
    by_a_after = [e for e in entries if json.loads(e.payload).get("by") == "A" and e.ts > taken_at]
    return {
        "a_token": next(e["token"] for e in events if e["event"] == "ready"),
        "b_token": b.token,
        "writes_accepted_from_a_after_takeover": sum(e["event"] == "accepted" for e in after)
        + len(by_a_after),
        "rejections_logged": [
            (e["event"], e["token"], e["current"]) for e in after if "rejected" in e["event"]
        ],
        "checkpoint_owner": ckpt.data.get("by") if ckpt else None,
        "ledger_valid": Ledger(db, signer=None).verify("run-z").ok,
        "stall_decisions": len(rec.for_task("story")),
    }


def redis_outage(
    db_url: str, workdir: Path, *, down_seconds: float = 3.0, interval: float = 0.2, threshold: int = 3
) -> dict[str, Any]:
    """RELIABILITY 10: kill a throwaway Redis mid-run, restart it empty: no false stall; a real stall
    afterwards is still found. Also: Redis down at start gives a clear error or the database fallback."""
    prefix = "ideamine-outage:"
    with RedisServer() as server:
        rec = Recorder()
        sup = Supervisor(
            store_for(db_url, server.url, prefix),
            emit=rec,
            policy=SupervisorPolicy(stall_threshold=threshold, kill_local_workers=True),
        )
        base = {
            "db": db_url,
            "redis": server.url,
            "prefix": prefix,
            "run": "run-r",
            "interval": interval,
            "ttl": threshold * interval,
        }
        logs = [workdir / f"w{i}.jsonl" for i in range(2)]
        procs = [spawn("beat", base | {"task": f"w{i}", "log": str(p)}) for i, p in enumerate(logs)]
        try:
            assert wait_for(lambda: all(read_log(p) for p in logs), 30)
            errors = supervise(sup, lambda: False, 0.8, interval / 4)
            server.stop()
            errors += supervise(sup, lambda: False, down_seconds, interval / 4)
            server.start()
            errors += supervise(sup, lambda: False, max(2.0, 2 * (threshold + 1) * interval), interval / 4)
            false_stalls = len(rec.decisions)
            os.kill(procs[0].pid, signal.SIGSTOP)
            stopped_at = time.time()
            errors += supervise(sup, lambda: rec.for_task("w0"), 20, interval / 4)
        finally:
            for proc in procs:
                stop(proc)
        stats = [next((e for e in reversed(read_log(p)) if e["event"] == "stats"), {}) for p in logs]
    detected = rec.for_task("w0")
    return {
        "down_s": down_seconds,
        "false_stall_escalations": false_stalls,
        "tick_errors": errors,
        "beats_to_database_while_down": sum(s.get("fallbacks", 0) for s in stats),
        "keys_restored_after_restart": sum(s.get("restored", 0) for s in stats),
        "real_stall_after_restart_latency_s": round(detected[0][0] - stopped_at, 3) if detected else None,
    } | redis_down_at_start(db_url)


def redis_down_at_start(db_url: str, tries: int = 5) -> dict[str, Any]:
    """Redis unreachable at start: a clear error without the password, or the database as configured."""
    url = f"redis://:s3cret-canary@127.0.0.1:{free_port()}/0"
    clear, fallback = 0, 0
    for _ in range(tries):
        try:
            heartbeat_store(Database.for_url(db_url), url, on_redis_down="error")
        except ServiceUnavailableError as exc:
            text = exc.explain()
            clear += "Redis" in text and "unset REDIS_URL" in text and "s3cret-canary" not in text
        store = heartbeat_store(Database.for_url(db_url), url, on_redis_down="database")
        fallback += isinstance(store, DatabaseHeartbeatStore)
    return {
        "down_at_start_clear_error": f"{clear}/{tries}",
        "down_at_start_database_fallback": f"{fallback}/{tries}",
    }


def checkpoint_race(
    db_url: str, workdir: Path, *, interleaving: str, kill_after: int, steps: int = 8, run: str = "run-c"
) -> dict[str, Any]:
    """RELIABILITY 3 at library level: an 80 ms delay on the result write or on the checkpoint write,
    SIGKILL between the two or in the checkpoint write; then resume in a new process."""
    from ideamine_core.ledger.store import Ledger

    specs = {
        "result_delayed": f"artifact.written:sleep=0.08,ledger.task_completed:SIGKILL:after={kill_after}",
        "checkpoint_delayed": f"checkpoint.saved:sleep=0.08,checkpoint.saved:SIGKILL:after={kill_after}",
    }
    log_path = workdir / f"{run}.jsonl"
    args = {"db": db_url, "run": run, "task": f"{run}-task", "steps": steps, "log": str(log_path)}
    first = spawn("steps", args | {"resume": False}, env={CRASH_ENV: specs[interleaving]})
    killed = first.wait(timeout=60) == -signal.SIGKILL
    ledger = Ledger(Database.for_url(db_url), signer=None)
    durable = {
        int(e.idempotency_key.split("-")[1])
        for e in ledger.entries(run)
        if e.idempotency_key.startswith("step-")
    }
    second = spawn("steps", args | {"resume": True})
    second.wait(timeout=60)
    events = read_log(log_path)
    resumed_pid = next(e["pid"] for e in events if e["event"] == "resume" and e["pid"] == second.pid)
    re_executed = [
        e["step"] for e in events if e["event"] == "exec" and e["pid"] == resumed_pid and e["step"] in durable
    ]
    keys = [e.idempotency_key for e in ledger.entries(run)]
    done = next((e for e in events if e["event"] == "done"), None)
    return {
        "killed": killed,
        "durable_at_kill": len(durable),
        "recovered_without_rerun": next(
            e["recovered"] for e in events if e["event"] == "resume" and e["pid"] == resumed_pid
        ),
        "durable_steps_re_executed": len(re_executed),
        "duplicate_ledger_entries": len(keys) - len(set(keys)),
        "completed": done is not None and done["state"]["sum"] == sum(i * i for i in range(steps)),
        "ledger_valid": ledger.verify(run).ok,
    }


class FakeProvider:
    """A local HTTP server that answers 503 while `down`, 200 otherwise, and logs every request."""

    def __init__(self) -> None:
        self.down = False
        self.hits: list[tuple[float, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                status = 503 if outer.down else 200
                outer.hits.append((time.time(), status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat"

    @contextmanager
    def running(self) -> Iterator[FakeProvider]:
        """Serve in a thread for the duration of the block."""
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def breaker_outage(
    workdir: Path, *, db_url: str | None = None, redis_url: str | None = None, prefix: str = "ideamine:",
    outage: float = 3.0, reset: float = 0.5, poll: float = 0.1, pace: float = 0.01,
) -> dict[str, Any]:  # fmt: skip
    """RELIABILITY 12: two worker processes call a provider that answers 503 for `outage` seconds."""
    policy = {"failure_threshold": 5, "window_seconds": 10.0, "reset_timeout": reset, "poll_seconds": poll}
    fake = FakeProvider()
    logs = [workdir / f"breaker{i}.jsonl" for i in range(2)]
    with fake.running():
        args = {
            "db": db_url,
            "redis": redis_url,
            "prefix": prefix,
            "url": fake.url,
            "policy": policy,
            "pace": pace,
        }
        stop_file = workdir / "breaker.stop"
        procs = [spawn("breaker", args | {"log": str(p), "stop_file": str(stop_file)}) for p in logs]
        try:
            assert wait_for(lambda: all(read_log(p) for p in logs), 30), "breaker workers did not start"
            time.sleep(0.5)
            fake.down, down_at = True, time.time()
            time.sleep(outage)
            fake.down, up_at = False, time.time()
            closed_again = lambda: all(  # noqa: E731
                any(e["event"] == State.CLOSED.value and e["t"] >= up_at for e in read_log(p)) for p in logs
            )
            wait_for(closed_again, 10 * reset + 5)
            stop_file.touch()
            for proc in procs:
                proc.wait(timeout=30)
        finally:
            for proc in procs:
                stop(proc)
    events = [read_log(p) for p in logs]
    opened = min(e["t"] for ev in events for e in ev if e["event"] == State.OPEN.value and e["t"] >= down_at)
    first_refusal = [min(e["t"] for e in ev if e["event"] == "refused" and e["t"] >= opened) for ev in events]
    closed = min(e["t"] for ev in events for e in ev if e["event"] == State.CLOSED.value and e["t"] >= up_at)
    while_open = [t for t, _ in fake.hits if opened < t < up_at]
    outage_hits = [t for t, _ in fake.hits if down_at <= t < up_at]
    peak = max((sum(1 for u in outage_hits if t <= u < t + 1.0) for t in outage_hits), default=0)
    allowed_probes = int((up_at - opened) / reset) + 1
    return {
        "time_to_open_s": round(opened - down_at, 3),
        "both_saw_open_within_s": round(max(first_refusal) - opened, 3),
        "poll_s": poll,
        "requests_while_open": len(while_open),
        "probe_bound": allowed_probes,
        "time_to_close_s": round(closed - up_at, 3),
        "peak_req_per_s_during_outage": peak,
        "reset_timeout_s": reset,
    }


if __name__ == "__main__":
    ROLES[sys.argv[1]](json.loads(sys.argv[2]))
