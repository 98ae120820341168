"""Crash-point matrix, resume latency and stall detection on the real pipeline, at full counts (issue 6).

RELIABILITY 1: each task-path crash point, 3 repetitions (each at a different hit of the point, so
kills land in different phases), `ideamine run --phases intake,ideation,critique,prd` on a local fake
OpenAI server (the story loop's `checkpoint.saved` on the offline model, intake → story_loop), SIGKILL,
then `ideamine resume` in a new process, compared with an uninterrupted run. RELIABILITY 8 on the
pipeline: a blocked agent detected by the supervisor sensor, N times. RELIABILITY 25 with the real
tools: build stopped by its `tools_minutes` budget. One line of figures per point,
then the totals.

    python bench/chaos.py                      # 3 reps per point, real `python -m ideamine_dagster.cli`
    python bench/chaos.py --reps 1 --zygote    # quicker: CLI processes forked from a warm process
    python bench/chaos.py --only stall --stall-reps 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# the packages first: tests/ mirrors their names
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "chaos")]

import pipeline_chaos as pc  # noqa: E402

AFTER = {
    # hits of each point, one per repetition: intake, ideation/critique, prd (15 tasks to prd)
    "task.started_logged": (2, 6, 13),
    "llm.request_sent": (2, 6, 13),
    "llm.response_cached": (2, 6, 13),
    "artifact.written": (2, 6, 13),
    "ledger.task_completed": (2, 6, 13),
    "gate.evaluating": (1, 2, 4),  # intake's, ideation's and prd's gate
    "checkpoint.saved": (1, 2, 3),  # the story loop's first three iterations
}


def pct(values: list[float], q: float) -> float:
    """The q-quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def matrix(args: argparse.Namespace, root: Path) -> None:
    """RELIABILITY 1 at full counts, `args.jobs` scenarios at a time."""
    started = time.perf_counter()
    zygotes = [pc.Zygote() for _ in range(args.jobs)] if args.zygote else [None] * args.jobs
    try:
        answers = pc.oracle(pc.TO_PRD, root / "oracle")
        plan = [
            (p, pc.TO_STORY_LOOP if p == "checkpoint.saved" else pc.TO_PRD, a)
            for p in AFTER
            for a in AFTER[p]
        ]
        plan = [(p, phases, after) for p, phases, after in plan if AFTER[p].index(after) < args.reps]
        with ThreadPoolExecutor(args.jobs) as pool:
            lane = iter(zygotes * (len(plan) + 2))
            refs: dict[str, Future[pc.Outcome]] = {
                "story": pool.submit(pc.reference, root / "ref-story", pc.TO_STORY_LOOP, None, next(lane)),
                "prd": pool.submit(pc.reference, root / "ref-prd", pc.TO_PRD, answers, next(lane)),
            }
            runs = [
                pool.submit(
                    pc.crash_and_resume,
                    root / f"{point}-{after}",
                    point,
                    phases,
                    None if phases == pc.TO_STORY_LOOP else answers,
                    after=after,
                    zygote=next(lane),
                )
                for point, phases, after in plan
            ]
            rows = []
            for (_, phases, _), run in zip(plan, runs, strict=True):
                ref = refs["story" if phases == pc.TO_STORY_LOOP else "prd"].result()
                rows.append(pc.figures(run.result(), ref))
                print("crash " + pc.summary(rows[-1]), flush=True)
    finally:
        for zygote in zygotes:
            if zygote is not None:
                zygote.close()
    _totals(rows, time.perf_counter() - started)


def _totals(rows: list[dict[str, Any]], seconds: float) -> None:
    ok = [r for r in rows if r.get("completed")]
    resumes = [r["resume_s"] for r in ok]
    print(
        f"RELIABILITY 1 totals: completed={len(ok)}/{len(rows)} "
        f"completed_calls_repeated={sum(r.get('completed_calls_repeated', 0) for r in rows)} "
        f"in_flight_repeated={sum(r.get('in_flight_repeated', 0) for r in rows)} "
        f"ledger_lost={sum(r.get('ledger_lost', 0) for r in rows)} "
        f"ledger_duplicated={sum(r.get('ledger_duplicated', 0) for r in rows)} "
        f"ledger_verified={sum(bool(r.get('ledger_verified')) for r in rows)}/{len(rows)} "
        f"hashes_equal={sum(bool(r.get('hashes_equal')) for r in rows)}/{len(rows)} "
        f"resume_p50_s={pct(resumes, 0.5):.2f} resume_p95_s={pct(resumes, 0.95):.2f} wall_s={seconds:.0f}",
        flush=True,
    )
    for r in rows:
        if not r.get("completed") and r.get("detail"):
            print(f"  {r['point']} after={r['after']}: {r['detail'][-600:]}")


def stall(args: argparse.Namespace, root: Path) -> None:
    """RELIABILITY 8 on the pipeline, `args.stall_reps` times."""
    rows = [pc.stall_scenario(root / f"stall-{i}") for i in range(args.stall_reps)]
    latencies = [r["latency_s"] for r in rows if r["latency_s"] is not None]
    print(
        f"RELIABILITY 8 (pipeline): runs_completed={sum(r['run_success'] for r in rows)}/{len(rows)} "
        f"stalled_events_per_stall={[len(r['stalled_events']) for r in rows]} "
        f"decisions_per_stall={[r['decisions'] for r in rows]} "
        f"retry_strategy={sorted({s for r in rows for s in r['retry_strategies']})} "
        f"latency_p50_s={pct(latencies, 0.5):.2f} latency_max_s={max(latencies, default=float('nan')):.2f} "
        f"bound_s(silence+(N+1)h+tick gap)={max(r['bound_s'] for r in rows):.2f} "
        f"within_bound={sum(_within(r) for r in rows)}/{len(rows)}",
        flush=True,
    )


def tools(args: argparse.Namespace, root: Path) -> None:
    """RELIABILITY 25 with the real tools: build's `tools_minutes` capped below one writer's git work."""
    f = pc.tools_budget_scenario(root / "tools")
    print(
        "RELIABILITY 25 (tools_minutes, real tools): " + " ".join(f"{k}={v}" for k, v in f.items()),
        flush=True,
    )


def _within(row: dict[str, Any]) -> bool:
    return row["latency_s"] is not None and row["latency_s"] <= row["bound_s"]


def main() -> None:
    """Parse arguments and run the selected benches."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", nargs="*", choices=["matrix", "stall", "tools"], default=["matrix", "stall", "tools"]
    )
    parser.add_argument("--reps", type=int, default=3, choices=[1, 2, 3], help="Repetitions per crash point.")
    parser.add_argument("--stall-reps", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="Scenarios at a time.")
    parser.add_argument("--zygote", action="store_true", help="Fork CLI processes from a warm process.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ideamine-chaos-") as tmp:
        if "matrix" in args.only:
            matrix(args, Path(tmp))
        if "stall" in args.only:
            stall(args, Path(tmp))
        if "tools" in args.only:
            tools(args, Path(tmp))


if __name__ == "__main__":
    main()
