"""Executor overhead: in-process vs multiprocess (forkserver) vs threadpool on a DynamicOut fan-out.

The job has 3 levels; each level fans out to 4 agents (DynamicOut -> map -> collect -> aggregate),
so 18 steps. Every agent sleeps L seconds (a stand-in for an LLM call). With the 4 agents of a
level in parallel the lower bound is 3·L. Run from the repo root:

    python bench/executor_overhead.py [--latencies 0 0.5] [--reps 1] 2>/dev/null

(multiprocess step workers log to stderr whatever the run config says; the table goes to stdout).
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import dagster as dg

from ideamine_dagster.executor import threadpool_executor

AGENTS = ("pm", "ux", "eng", "critic")
LEVELS = 3
STEPS = LEVELS * (len(AGENTS) + 2)
FORKSERVER = {
    "max_concurrent": 8,
    "start_method": {"forkserver": {"preload_modules": ["dagster", "ideamine_dagster.executor"]}},
}


class FakeLLM(dg.ConfigurableResource):
    """An LLM client that only waits."""

    latency: float = 0.0

    def complete(self, prompt: str) -> str:
        """Sleep `latency` seconds and echo the prompt."""
        time.sleep(self.latency)
        return prompt


@dg.op(ins={"after": dg.In(dg.Nothing)}, out=dg.DynamicOut(str))
def fan_out() -> Iterator[dg.DynamicOutput[str]]:
    """One dynamic output per agent."""
    for name in AGENTS:
        yield dg.DynamicOutput(name, mapping_key=name)


@dg.op
def agent(llm: FakeLLM, name: str) -> str:
    """One agent call."""
    return llm.complete(name)


@dg.op
def aggregate(answers: list[str]) -> list[str]:
    """Fan in a level."""
    return sorted(answers)


def _build_job(name: str, executor_def: dg.ExecutorDefinition) -> dg.JobDefinition:
    """The 3-level fan-out job on `executor_def`."""

    @dg.job(name=name, executor_def=executor_def, resource_defs={"llm": FakeLLM()})
    def fan_out_levels() -> None:
        previous = None
        for level in range(LEVELS):
            fan = fan_out.alias(f"fan_out_{level}")
            names = fan() if previous is None else fan(after=previous)
            answers = names.map(agent.alias(f"agent_{level}")).collect()
            previous = aggregate.alias(f"aggregate_{level}")(answers)

    return fan_out_levels


def in_process_job() -> dg.JobDefinition:
    """Job getter for reconstructable(): in-process executor."""
    return _build_job("in_process", dg.in_process_executor)


def multiprocess_job() -> dg.JobDefinition:
    """Job getter for reconstructable(): multiprocess executor, forkserver with preload, 8 slots."""
    return _build_job("multiprocess", dg.multiprocess_executor.configured(FORKSERVER, name="forkserver"))


def threadpool_job() -> dg.JobDefinition:
    """Job getter for reconstructable(): threadpool executor, 8 threads."""
    return _build_job("threadpool", threadpool_executor)


EXECUTORS: dict[str, Callable[[], dg.JobDefinition]] = {
    "in_process": in_process_job,
    "multiprocess forkserver+preload (8)": multiprocess_job,
    "threadpool (8)": threadpool_job,
}


def time_run(instance: dg.DagsterInstance, job_fn: Callable[[], dg.JobDefinition], latency: float) -> float:
    """Wall seconds of one execute_job call; raises if the run fails."""
    run_config = {
        "resources": {"llm": {"config": {"latency": latency}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    start = time.perf_counter()
    with dg.execute_job(dg.reconstructable(job_fn), instance=instance, run_config=run_config) as result:
        elapsed = time.perf_counter() - start
        if not result.success:
            raise RuntimeError(f"{job_fn.__name__} failed at L={latency}")
    return elapsed


def main(latencies: Sequence[float], reps: int) -> None:
    """Time each executor at each latency and print a Markdown table."""
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        time_run(instance, in_process_job, 0.0)  # warm-up: imports and sqlite schema
        print(f"{STEPS} steps, {LEVELS} levels x {len(AGENTS)} agents, lower bound = {LEVELS}·L\n")
        print("| executor | L (s) | runs | median wall (s) | LB (s) | wall / LB | overhead per step (s) |")
        print("|---|---|---|---|---|---|---|")
        for latency in latencies:
            bound = LEVELS * latency
            for label, job_fn in EXECUTORS.items():
                wall = statistics.median(time_run(instance, job_fn, latency) for _ in range(reps))
                ratio = f"{wall / bound:.2f}" if bound else "–"
                per_step = (wall - bound) / STEPS
                print(
                    f"| {label} | {latency} | {reps} | {wall:.2f} | {bound:.1f} | {ratio} | {per_step:.3f} |"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    main(args.latencies, args.reps)
