"""The threadpool executor runs a job's steps concurrently in threads of the run process.

Contract: mapped (DynamicOut) steps overlap up to `max_concurrent`; dependencies, `.collect()`,
failures, RetryPolicy, RetryRequested, blocking asset checks, dynamic partitions and run
termination behave as on dagster's own executors. Overlap is read from the event log
(STEP_START/STEP_SUCCESS timestamps), not from wall time.
"""

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.execution.retries import RetryMode

from ideamine_dagster.executor import ThreadPoolStepExecutor, threadpool_executor

pytestmark = pytest.mark.exclusive  # overlap and interruption are measured in wall time

AGENTS = ["pm", "ux", "eng", "critic"]
IDEAS = dg.DynamicPartitionsDefinition(name="ideas")


@dg.op(out=dg.DynamicOut(str))
def fan_out() -> Iterator[dg.DynamicOutput[str]]:
    """Emit one dynamic output per agent."""
    for name in AGENTS:
        yield dg.DynamicOutput(name, mapping_key=name)


@dg.op(
    config_schema={"sleep": dg.Field(float, default_value=0.5), "fail": dg.Field(str, default_value="")},
    tags={"llm": "fake"},
)
def agent(context: dg.OpExecutionContext, name: str) -> str:
    """Stand in for an LLM call: sleep, or fail for the configured agent."""
    if name == context.op_config["fail"]:
        raise RuntimeError(f"agent {name} failed")
    time.sleep(context.op_config["sleep"])
    return name


@dg.op(name="agent")
async def async_agent(name: str) -> str:
    """Stand in for an async LLM client call."""
    await asyncio.sleep(0.5)
    return name


@dg.op
def aggregate(names: list[str]) -> list[str]:
    """Fan in the agent results."""
    return sorted(names)


@dg.job(executor_def=threadpool_executor)
def fanout_job() -> None:
    """Fan out to four agents and collect."""
    aggregate(fan_out().map(agent).collect())


@dg.job(executor_def=threadpool_executor)
def async_fanout_job() -> None:
    """Fan out to four async agents and collect."""
    aggregate(fan_out().map(async_agent).collect())


@dg.op(retry_policy=dg.RetryPolicy(max_retries=2))
def flaky(context: dg.OpExecutionContext) -> int:
    """Fail on the first two attempts."""
    if context.retry_number < 2:
        raise RuntimeError("HTTP 529 overloaded")
    return context.retry_number


@dg.op
def asks_retry(context: dg.OpExecutionContext) -> int:
    """Request one retry explicitly."""
    if context.retry_number < 1:
        raise dg.RetryRequested(max_retries=2, seconds_to_wait=0.1)
    return context.retry_number


@dg.job(executor_def=threadpool_executor)
def retry_job() -> None:
    """Two independent ops that need retries."""
    flaky()
    asks_retry()


@dg.op
def long_agent() -> str:
    """Run for up to 20 s in small slices so an interrupt lands."""
    for _ in range(400):
        time.sleep(0.05)
    return "finished"


@dg.op
def terminate_run(context: dg.OpExecutionContext) -> None:
    """Terminate the run as the run launcher does: mark it canceling, then SIGINT the run worker."""
    time.sleep(0.3)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise RuntimeError("dagster is not capturing SIGINT here; sending it would stop pytest")
    context.instance.report_run_canceling(context.dagster_run)
    os.kill(os.getpid(), signal.SIGINT)


@dg.job(executor_def=threadpool_executor)
def terminated_job() -> None:
    """A long step next to one that terminates the run."""
    long_agent()
    terminate_run()


@dg.op(out={"agg": dg.Out(), "gate": dg.Out()}, config_schema={"passed": bool})
def aggregate_and_gate(context: dg.OpExecutionContext, names: list[str]) -> Iterator[object]:
    """Aggregate and yield the phase's blocking gate result."""
    yield dg.Output({"names": sorted(names)}, output_name="agg")
    yield dg.AssetCheckResult(check_name="gate", passed=context.op_config["passed"])


@dg.graph_asset(check_specs=[dg.AssetCheckSpec("gate", asset="prd", blocking=True)])
def prd() -> dict[str, object]:
    """Phase asset: agents fanned out, aggregated, gated."""
    agg, gate = aggregate_and_gate(fan_out().map(agent).collect())
    return {"result": agg, "prd_gate": gate}


@dg.asset
def architecture(prd: dict[str, object]) -> int:
    """Downstream phase."""
    return len(prd["names"])


@dg.op
def aggregate_for_idea(context: dg.OpExecutionContext, names: list[str]) -> dg.Output[list[str]]:
    """Fan in the agent results of one idea partition."""
    return dg.Output(sorted(names), metadata={"idea": context.partition_key})


@dg.graph_asset(partitions_def=IDEAS)
def ideation() -> list[str]:
    """Partitioned phase asset."""
    return aggregate_for_idea(fan_out().map(agent).collect())


def get_fanout_job() -> dg.JobDefinition:
    """Module-level getter for reconstructable()."""
    return fanout_job


def get_async_fanout_job() -> dg.JobDefinition:
    """Module-level getter for reconstructable()."""
    return async_fanout_job


def get_retry_job() -> dg.JobDefinition:
    """Module-level getter for reconstructable()."""
    return retry_job


def get_terminated_job() -> dg.JobDefinition:
    """Module-level getter for reconstructable()."""
    return terminated_job


def gated_job() -> dg.JobDefinition:
    """Asset job over a gated phase and its downstream phase."""
    defs = dg.Definitions(
        assets=[prd, architecture],
        jobs=[dg.define_asset_job("gated", selection=[prd, architecture])],
        executor=threadpool_executor,
    )
    return defs.resolve_job_def("gated")


def partitioned_job() -> dg.JobDefinition:
    """Asset job over a dynamically partitioned phase."""
    defs = dg.Definitions(
        assets=[ideation],
        jobs=[dg.define_asset_job("ideas_job", selection=[ideation], partitions_def=IDEAS)],
        executor=threadpool_executor,
    )
    return defs.resolve_job_def("ideas_job")


def _run(
    instance: dg.DagsterInstance,
    job_fn: Callable[[], dg.JobDefinition],
    run_config: dict | None = None,
    **kw: Any,
) -> dg.JobExecutionResult:
    """Execute a module-level job getter (its job uses the threadpool executor) and return the result."""
    return dg.execute_job(dg.reconstructable(job_fn), instance=instance, run_config=run_config or {}, **kw)


def _steps(instance: dg.DagsterInstance, run_id: str, event_type: DagsterEventType) -> dict[str, float]:
    """Step key -> timestamp of its (last) event of `event_type`."""
    return {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=event_type) if e.step_key}


def _agent_intervals(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) of each mapped agent step."""
    starts = _steps(instance, run_id, DagsterEventType.STEP_START)
    ends = _steps(instance, run_id, DagsterEventType.STEP_SUCCESS)
    return [(starts[k], ends[k]) for k in starts if k.startswith("agent[")]


def _max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """Largest number of intervals open at one moment."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    open_now = peak = 0
    for _, delta in edges:
        open_now += delta
        peak = max(peak, open_now)
    return peak


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A temporary persistent (sqlite) instance."""
    with dg.instance_for_test() as inst:
        yield inst


def _phase_config(graph: str, passed: bool) -> dict[str, Any]:
    """Run config for a phase graph: instant agents and the gate outcome."""
    ops = {"aggregate_and_gate": {"config": {"passed": passed}}, "agent": {"config": {"sleep": 0.0}}}
    return {"ops": {graph: {"ops": ops}}}


@pytest.mark.parametrize(
    "job_fn", [pytest.param(get_fanout_job, id="sync"), pytest.param(get_async_fanout_job, id="async")]
)
def test_mapped_steps_run_concurrently(
    instance: dg.DagsterInstance, job_fn: Callable[[], dg.JobDefinition]
) -> None:
    start = time.monotonic()
    with _run(instance, job_fn) as result:
        elapsed = time.monotonic() - start
        assert result.success
        assert result.output_for_node("aggregate") == sorted(AGENTS)
    intervals = _agent_intervals(instance, result.run_id)
    assert len(intervals) == 4
    starts = [s for s, _ in intervals]
    assert max(starts) - min(starts) < 0.3
    assert _max_overlap(intervals) == 4
    assert max(e for _, e in intervals) - min(starts) < 1.5  # 4 x 0.5 s one after another: >= 2 s
    assert elapsed < 10  # generous: the whole run, including run creation and sqlite writes


@pytest.mark.parametrize(
    ("execution", "expected_overlap"),
    [
        ({"max_concurrent": 2}, 2),  # at most two steps in flight
        ({"tag_concurrency_limits": [{"key": "llm", "value": "fake", "limit": 1}]}, 1),  # one per tag
    ],
)
def test_concurrency_limits_bound_overlap(
    instance: dg.DagsterInstance, execution: dict[str, Any], expected_overlap: int
) -> None:
    with _run(instance, get_fanout_job, {"execution": {"config": execution}}) as result:
        assert result.success
    assert _max_overlap(_agent_intervals(instance, result.run_id)) == expected_overlap


def test_non_persistent_instance_is_accepted() -> None:
    config = {"ops": {"agent": {"config": {"sleep": 0.0}}}}
    with _run(dg.DagsterInstance.ephemeral(), get_fanout_job, config) as result:
        assert result.success
        assert result.output_for_node("aggregate") == sorted(AGENTS)


def test_failing_step_fails_run_and_skips_downstream(instance: dg.DagsterInstance) -> None:
    with _run(instance, get_fanout_job, {"ops": {"agent": {"config": {"fail": "eng"}}}}) as result:
        assert not result.success
    run_id = result.run_id
    assert set(_steps(instance, run_id, DagsterEventType.STEP_FAILURE)) == {"agent[eng]"}
    succeeded = set(_steps(instance, run_id, DagsterEventType.STEP_SUCCESS))
    assert succeeded == {"fan_out", "agent[pm]", "agent[ux]", "agent[critic]"}
    assert "aggregate" not in _steps(instance, run_id, DagsterEventType.STEP_START)


def test_retry_policy_and_retry_requested(instance: dg.DagsterInstance) -> None:
    with _run(instance, get_retry_job) as result:
        assert result.success
        assert result.output_for_node("flaky") == 2  # succeeded on attempt 3
        assert result.output_for_node("asks_retry") == 1
    retry_events = instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    assert sorted(e.step_key for e in retry_events) == ["asks_retry", "flaky", "flaky"]


def test_retries_disabled_by_config(instance: dg.DagsterInstance) -> None:
    with _run(instance, get_retry_job, {"execution": {"config": {"retries": {"disabled": {}}}}}) as result:
        assert not result.success
    assert set(_steps(instance, result.run_id, DagsterEventType.STEP_FAILURE)) == {"flaky", "asks_retry"}


@pytest.mark.parametrize(
    ("passed", "downstream_runs"),
    [
        (True, True),  # gate passes: the next phase materializes
        (False, False),  # blocking gate fails: the next phase never starts
    ],
)
def test_blocking_gate_controls_downstream(
    instance: dg.DagsterInstance, passed: bool, downstream_runs: bool
) -> None:
    with _run(instance, gated_job, _phase_config("prd", passed)) as result:
        assert result.success is passed
        evaluations = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        ]
    assert [(ev.check_name, ev.passed) for ev in evaluations] == [("gate", passed)]
    assert ("architecture" in _steps(instance, result.run_id, DagsterEventType.STEP_START)) is downstream_runs
    downstream = instance.get_latest_materialization_event(dg.AssetKey("architecture"))
    assert (downstream is not None) is downstream_runs


def test_dynamic_partition_run(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions(IDEAS.name, ["idea-001"])
    config = {"ops": {"ideation": {"ops": {"agent": {"config": {"sleep": 0.0}}}}}}
    with _run(instance, partitioned_job, config, tags={"dagster/partition": "idea-001"}) as result:
        assert result.success
    materialization = instance.get_latest_materialization_event(dg.AssetKey("ideation"))
    assert materialization is not None and materialization.asset_materialization is not None
    assert materialization.asset_materialization.partition == "idea-001"
    assert materialization.asset_materialization.metadata["idea"].value == "idea-001"


def test_termination_interrupts_running_steps(instance: dg.DagsterInstance) -> None:
    start = time.monotonic()
    with _run(instance, get_terminated_job) as result:
        assert not result.success
    assert time.monotonic() - start < 10  # long_agent would take 20 s if it were not interrupted
    assert result.dagster_run.status == dg.DagsterRunStatus.CANCELED
    failures = {
        e.step_key: e.dagster_event.step_failure_data.error.cls_name
        for e in instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE)
    }
    assert failures["long_agent"] == "DagsterExecutionInterruptedError"


def test_max_concurrent_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ThreadPoolStepExecutor(retries=RetryMode.ENABLED, max_concurrent=0)
