"""Resilience figures at full counts (RELIABILITY 3, 8, 9, 10, 11, 12, 25 at library level; decision 1).

Runs the chaos scenarios of ``tests/chaos/resilience_scenarios.py`` against a temporary SQLite file
and a temporary PostgreSQL schema (``IDEAMINE_TEST_PG_URL``), with throwaway ``redis-server``
processes, and prints one line of figures per scenario.

    python bench/resilience.py                       # everything, full counts, 60 s CPU-stress soak
    python bench/resilience.py --only stall zombie --reps 10
    python bench/resilience.py --only soak --soak-seconds 600   # the 10-minute false-stall run
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
# the packages first: tests/ mirrors their names
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "chaos")]

import resilience_scenarios as sc  # noqa: E402

from ideamine_core.resilience.crash import CRASH_ENV, crash_point  # noqa: E402
from ideamine_core.resilience.heartbeats import DatabaseHeartbeatStore  # noqa: E402
from ideamine_core.resilience.supervisor import Supervisor, SupervisorPolicy  # noqa: E402
from ideamine_core.storage.database import Database  # noqa: E402

PG_URL = os.environ.get("IDEAMINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, migrated database URL on `backend`, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
            Database(url).setup()
            yield url
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
        try:
            Database(url).setup()
            yield url
        finally:
            Database.for_url(url).dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()


@contextmanager
def workdir() -> Iterator[Path]:
    """A scratch folder for worker logs."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def line(name: str, **figures: Any) -> None:
    """Print one line of figures."""
    print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_crash_points(_: argparse.Namespace) -> None:
    """Decision 1: the cost of a crash point when IDEAMINE_CRASH_AT is unset, side by side."""
    n = 1_000_000

    def empty(name: str) -> None:
        return None

    os.environ.pop(CRASH_ENV, None)
    unset = min(timeit.repeat(lambda: crash_point("llm.response_cached"), number=n, repeat=5)) / n
    base = min(timeit.repeat(lambda: empty("llm.response_cached"), number=n, repeat=5)) / n
    os.environ[CRASH_ENV] = "gate.evaluating:raise"
    other = min(timeit.repeat(lambda: crash_point("llm.response_cached"), number=n // 10, repeat=5)) / (
        n // 10
    )
    os.environ.pop(CRASH_ENV)
    line(
        "crash points", unset_ns=round(unset * 1e9), empty_call_ns=round(base * 1e9),
        ratio_unset_to_empty=round(unset / base, 1), set_for_another_point_ns=round(other * 1e9),
    )  # fmt: skip


def bench_stall(args: argparse.Namespace) -> None:
    """RELIABILITY 8: detection latency and decisions per stall, SIGSTOP and blocked agent."""
    for backend in ("sqlite", "postgresql"):
        latencies: dict[str, list[float]] = {"stopped": [], "blocked": []}
        decisions, false, errors, recorded = [], 0, 0, []
        for _ in range(args.reps):
            with database(backend) as url, workdir() as wd:
                f = sc.stall_detection(url, wd)
            for task in latencies:
                if f[f"{task}_latency_s"] is not None:
                    latencies[task].append(f[f"{task}_latency_s"])
                    recorded.append(f[f"{task}_recorded_after_s"])
                decisions.append(f[f"{task}_decisions"])
            false += f["false_stalls"]
            errors += f["tick_errors"]
        line(
            f"RELIABILITY 8 stall detection ({backend}, h=0.2 s, N=3, {args.reps} reps)",
            bound_s=0.8,
            sigstop_latency_p50_max_s=(pct(latencies["stopped"], 0.5), max(latencies["stopped"])),
            blocked_latency_p50_max_s=(pct(latencies["blocked"], 0.5), max(latencies["blocked"])),
            decision_recorded_after_max_s=max(recorded),
            decisions_per_stall=sorted(set(decisions)),
            false_stalls=false,
            tick_errors=errors,
        )


def bench_soak(args: argparse.Namespace) -> None:
    """RELIABILITY 8: false stalls of healthy workers while stress-ng saturates both cores."""
    with database("postgresql") as url, workdir() as wd:
        rec = sc.Recorder()
        sup = Supervisor(DatabaseHeartbeatStore(Database.for_url(url)), emit=rec, policy=SupervisorPolicy())
        base = {"db": url, "run": "soak", "interval": args.interval, "ttl": 3 * args.interval}
        procs = [sc.spawn("beat", base | {"task": f"w{i}", "log": str(wd / f"w{i}.jsonl")}) for i in range(4)]
        stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--timeout", f"{int(args.soak_seconds) + 30}s"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            sc.wait_for(lambda: all(sc.read_log(wd / f"w{i}.jsonl") for i in range(4)), 60)
            errors = sc.supervise(sup, lambda: False, args.soak_seconds, args.interval / 4)
            ticks = int(args.soak_seconds / (args.interval / 4))
        finally:
            stress.send_signal(signal.SIGTERM)
            stress.wait(timeout=30)
            for proc in procs:
                sc.stop(proc)
    line(
        f"RELIABILITY 8 soak, stress-ng --cpu 2 ({args.soak_seconds:g} s, 4 workers, h={args.interval}, N=3)",
        false_stall_detections=len(rec.decisions), tick_errors=errors, approx_ticks=ticks,
    )  # fmt: skip


def bench_zombie(args: argparse.Namespace) -> None:
    """RELIABILITY 9: writes accepted from a woken zombie, rejections, chain validity."""
    for backend in ("sqlite", "postgresql"):
        accepted, rejections, valid, owner_b = 0, 0, 0, 0
        for _ in range(args.reps):
            with database(backend) as url, workdir() as wd:
                f = sc.zombie_fencing(url, wd)
            accepted += f["writes_accepted_from_a_after_takeover"]
            rejections += len(f["rejections_logged"]) > 0
            valid += f["ledger_valid"]
            owner_b += f["checkpoint_owner"] == "B"
        line(
            f"RELIABILITY 9 zombie fencing ({backend}, {args.reps} reps)",
            writes_accepted_after_takeover=accepted, runs_with_rejection_logged=f"{rejections}/{args.reps}",
            checkpoint_kept_by_B=f"{owner_b}/{args.reps}", ledger_valid=f"{valid}/{args.reps}",
        )  # fmt: skip


def bench_redis(args: argparse.Namespace) -> None:
    """RELIABILITY 10: a 15 s Redis outage mid-run."""
    with database("postgresql") as url, workdir() as wd:
        f = sc.redis_outage(url, wd, down_seconds=args.redis_down)
    line(f"RELIABILITY 10 Redis outage ({args.redis_down:g} s down, restarted empty)", **f)


def bench_breaker(args: argparse.Namespace) -> None:
    """RELIABILITY 12: a 30 s provider outage, breakers shared through Redis and through the database."""
    with sc.RedisServer() as server, workdir() as wd:
        f = sc.breaker_outage(
            wd, redis_url=server.url, outage=args.breaker_outage, reset=args.reset, poll=0.5
        )
    line(f"RELIABILITY 12 breaker via Redis ({args.breaker_outage:g} s of 503)", **f)
    with database("postgresql") as url, workdir() as wd:
        f = sc.breaker_outage(wd, db_url=url, outage=args.breaker_outage, reset=args.reset, poll=0.5)
    line(f"RELIABILITY 12 breaker via PostgreSQL ({args.breaker_outage:g} s of 503)", **f)


def bench_race(args: argparse.Namespace) -> None:
    """RELIABILITY 3: both interleavings, 5 runs each, random kill step, both backends."""
    rng = random.Random(11)
    for backend in ("sqlite", "postgresql"):
        for interleaving in ("result_delayed", "checkpoint_delayed"):
            results = []
            for n in range(args.race_runs):
                with database(backend) as url, workdir() as wd:
                    results.append(
                        sc.checkpoint_race(
                            url, wd, interleaving=interleaving, kill_after=rng.randint(1, 7), run=f"r{n}"
                        )
                    )
            line(
                f"RELIABILITY 3 persistence order ({backend}, {interleaving}, 80 ms, {args.race_runs} runs)",
                killed=f"{sum(r['killed'] for r in results)}/{len(results)}",
                durable_steps_re_executed=sum(r["durable_steps_re_executed"] for r in results),
                duplicated_side_effects=sum(r["duplicate_ledger_entries"] for r in results),
                completed=f"{sum(r['completed'] for r in results)}/{len(results)}",
                ledger_valid=f"{sum(r['ledger_valid'] for r in results)}/{len(results)}",
            )


def bench_pytest_figures(args: argparse.Namespace) -> None:
    """RELIABILITY 11 and 25 at full settings: run their tests and echo the figure lines."""
    env = os.environ | {"PYTHONUNBUFFERED": "1", "IDEAMINE_LADDER_RETRY_AFTER": "2"}
    targets = ["tests/chaos/test_unsticker_ladder.py", "tests/ideamine_core/resilience/test_budgets.py"]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", *targets],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    for text in out.stdout.splitlines():
        if text.startswith(("RELIABILITY 11", "budget ", "timers:")):
            print(text, flush=True)
    line(
        "RELIABILITY 11 + 25 tests",
        outcome=out.stdout.strip().splitlines()[-1] if out.stdout else out.returncode,
    )


BENCHES = {
    "crash": bench_crash_points,
    "stall": bench_stall,
    "zombie": bench_zombie,
    "race": bench_race,
    "redis": bench_redis,
    "breaker": bench_breaker,
    "ladder_budgets": bench_pytest_figures,
    "soak": bench_soak,
}


def main() -> None:
    """Parse arguments and run the chosen benches."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=list(BENCHES))
    parser.add_argument("--reps", type=int, default=5, help="repetitions of the stall and zombie scenarios")
    parser.add_argument("--race-runs", type=int, default=5)
    parser.add_argument("--redis-down", type=float, default=15.0)
    parser.add_argument("--breaker-outage", type=float, default=30.0)
    parser.add_argument("--reset", type=float, default=5.0, help="breaker reset timeout, seconds")
    parser.add_argument("--soak-seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.2, help="heartbeat interval of the soak")
    args = parser.parse_args()
    started = time.time()
    for name in args.only:
        BENCHES[name](args)
    line(
        "total", seconds=round(time.time() - started, 1), python=sys.version.split()[0], cores=os.cpu_count()
    )


if __name__ == "__main__":
    main()
