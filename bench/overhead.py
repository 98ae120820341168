"""Dagster overhead: full pipeline wall time vs the DAG's critical-path lower bound, per executor.

Every agent call sleeps L seconds (offline provider with simulated latency). The lower bound is the
longest path through the phase DAG where a phase costs L for a parallel phase, ceil(agents / N) · L
for an integer N, agents · L for a sequential phase and (agent calls made) · L for an iterative one.

    python bench/overhead.py --latencies 0 1 2 --executors threadpool multiprocess in_process
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.domain.phase import Parallelism
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import EXECUTORS
from ideamine_dagster.launcher import create_run, execute_run, open_instance
from ideamine_dagster.resources import phase_graph

IDEA = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", users=["remote teams"])


def phase_cost(graph: PhaseGraph, store: RunStore, run_id: str, phase: str, latency: float) -> float:
    """The phase's own critical time at latency L (agents overlapping where its parallelism allows)."""
    config = graph.phases[phase]
    agents = len(config.agents)
    if config.parallelism is Parallelism.PARALLEL:
        return latency
    if config.parallelism is Parallelism.SEQUENTIAL:
        return agents * latency
    if config.parallelism is Parallelism.ITERATIVE:
        return len(store.load_artifact(run_id, phase).results) * latency
    return math.ceil(agents / int(config.parallelism)) * latency


def critical_path(graph: PhaseGraph, store: RunStore, run_id: str, latency: float) -> float:
    """Longest path through the DAG of phase costs."""
    finish: dict[str, float] = {}
    for phase in graph.order():
        start = max((finish[d] for d in graph.phases[phase].depends_on), default=0.0)
        finish[phase] = start + phase_cost(graph, store, run_id, phase, latency)
    return max(finish.values())


def total_calls(store: RunStore, run_id: str, phases: list[str]) -> int:
    """Agent calls made in the run (the in-process executor's own bound is calls · L)."""
    return sum(len(store.load_artifact(run_id, p).results) for p in phases)


def run_once(root: Path, executor: str, latency: float) -> tuple[float, float, int]:
    """One full run; returns (wall seconds, lower bound, agent calls)."""
    settings = Settings(
        home=root / f"{executor}-{latency}-{time.monotonic_ns()}", config_dir=Settings.from_env().config_dir
    )
    graph = phase_graph(str(settings.config_dir))
    instance = open_instance(settings)
    record = create_run(settings, IDEA, graph.order())
    started = time.perf_counter()
    _, success = execute_run(settings, instance, record, executor, simulated_latency_seconds=latency)
    wall = time.perf_counter() - started
    if not success:
        raise SystemExit(f"{executor} run at L={latency} failed; see {settings.home}")
    store = RunStore(settings.runs_dir)
    return (
        wall,
        critical_path(graph, store, record.run_id, latency),
        total_calls(store, record.run_id, graph.order()),
    )


def main() -> None:
    """Run the matrix and print a Markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        "| executor | L (s) | runs | median wall (s) | lower bound (s) | ratio | overhead (s) | agent calls |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ideamine-bench-") as tmp:
        for latency in args.latencies:
            for executor in args.executors:
                samples = [run_once(Path(tmp), executor, latency) for _ in range(args.repeat)]
                wall = statistics.median(s[0] for s in samples)
                bound, calls = samples[0][1], samples[0][2]
                ratio = f"{wall / bound:.2f}" if bound else "–"
                print(
                    f"| {executor} | {latency:g} | {len(samples)} | {wall:.2f} | {bound:.1f} | {ratio} | "
                    f"{wall - bound:.2f} | {calls} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
