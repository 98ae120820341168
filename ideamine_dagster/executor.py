"""Thread-pool executor: run a job's steps concurrently in threads of the run process."""

import asyncio
import ctypes
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import dagster as dg
import dagster_shared
import sqlalchemy
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import (
    PlanExecutionContext,
    PlanOrchestrationContext,
    StepExecutionContext,
)
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan import compute
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.execute_plan import _trigger_hook, dagster_event_sequence_for_step
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import (
    StepDependencyConfig,
    get_step_dependency_config_field,
)
from dagster._core.execution.tags import get_tag_concurrency_limits_config
from dagster._core.executor.base import Executor
from dagster._utils.error import serializable_error_info_from_exc_info

_POLL_SECONDS = 0.1  # how often the main loop looks for interrupts and due retries
_INTERRUPTS = (KeyboardInterrupt, DagsterExecutionInterruptedError)
_FRAMEWORK_PATHS = (
    *(os.path.dirname(mod.__file__ or "") + os.sep for mod in (dg, dagster_shared, sqlalchemy, logging)),
    threading.__file__,
    queue.__file__,
    __file__,
)
_COMPUTE_PATH = compute.__file__  # the module that calls op compute functions


@dataclass(frozen=True)
class _StepDone:
    """Last item a step thread puts on the queue; carries an exception the step re-raised."""

    error: BaseException | None


def _run_step(
    job_context: PlanExecutionContext,
    step: ExecutionStep,
    known_state: KnownExecutionState,
    events: "queue.SimpleQueue[tuple[str, DagsterEvent | _StepDone]]",
) -> None:
    """Execute one step in the calling thread, putting its events and then `_StepDone` on `events`."""
    error: BaseException | None = None
    loop = asyncio.new_event_loop()  # async ops: the run's shared loop cannot run in two threads
    try:
        step_context = StepExecutionContext(
            plan_data=job_context.plan_data,
            execution_data=job_context._execution_data,  # noqa: SLF001
            log_manager=job_context.log.with_tags(**step.logging_tags),
            step=step,
            output_capture=job_context.output_capture,
            known_state=known_state,
            event_loop=loop,
        )
        step_events: list[DagsterEvent] = []
        for event in dagster_event_sequence_for_step(step_context):
            step_events.append(event)
            events.put((step.key, event))
        for event in _trigger_hook(step_context, step_events):
            events.put((step.key, event))
    except BaseException as exc:  # handed to the main thread, which decides
        error = exc
    finally:
        loop.close()
        events.put((step.key, _StepDone(error)))


def _interrupt_in_user_code(thread: threading.Thread) -> bool:
    """Raise DagsterExecutionInterruptedError in `thread` if it runs op code now; True when done.

    Like dagster, interrupt only user code: the op's compute must be on the stack and the innermost
    frame outside dagster, storage and logging code, so no event write, lock or report is torn.
    """
    frame = sys._current_frames().get(thread.ident or -1)  # noqa: SLF001
    if frame is None:
        return True
    if frame.f_code.co_filename.startswith(_FRAMEWORK_PATHS):
        return False
    while frame is not None and frame.f_code.co_filename != _COMPUTE_PATH:
        frame = frame.f_back
    if frame is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident or 0), ctypes.py_object(DagsterExecutionInterruptedError)
        )
    return frame is not None


class _StepThreads:
    """The running step threads of one run, their event queue and what they reported."""

    def __init__(self, job_context: PlanExecutionContext, active: ActiveExecution) -> None:
        """Track threads for `active`, whose steps run against `job_context`."""
        self._job_context = job_context
        self._active = active
        self._events: queue.SimpleQueue[tuple[str, DagsterEvent | _StepDone]] = queue.SimpleQueue()
        self._retries: dict[str, DagsterEvent] = {}
        self._to_interrupt: set[str] = set()
        self.threads: dict[str, threading.Thread] = {}
        self.error: BaseException | None = None

    def start(self, step: ExecutionStep) -> None:
        """Start a daemon thread for `step` with a private copy of the known execution state."""
        known = self._active.get_known_state()
        known = known._replace(ready_outputs=set(known.ready_outputs))
        args = (self._job_context, step, known, self._events)
        thread = threading.Thread(target=_run_step, args=args, name=f"step-{step.key}", daemon=True)
        self.threads[step.key] = thread
        thread.start()

    def relay(self, timeout: float) -> Iterator[DagsterEvent]:
        """Wait up to `timeout`, yield queued step events and feed them to ActiveExecution."""
        self.deliver_interrupts()
        dead = {key for key, thread in self.threads.items() if not thread.is_alive()}
        for key, item in self._drain(timeout):
            if isinstance(item, _StepDone):
                dead.add(key)
                if item.error is not None and not isinstance(item.error, _INTERRUPTS):
                    self.error = self.error or item.error
                continue
            yield item
            if item.is_step_up_for_retry:  # re-queue once its thread is gone: one thread per key
                self._retries[key] = item
            else:
                self._active.handle_event(item)
        for key in dead & self.threads.keys():
            self.threads.pop(key).join()
            if key in self._retries:
                self._active.handle_event(self._retries.pop(key))
            self._active.verify_complete(self._job_context, key)

    def interrupt_all(self) -> None:
        """Mark every running step to be interrupted as soon as it is in user code."""
        self._to_interrupt = set(self.threads)
        self.deliver_interrupts()

    def deliver_interrupts(self) -> None:
        """Interrupt the marked steps that are in user code now; keep the others for the next poll."""
        for key in list(self._to_interrupt):
            thread = self.threads.get(key)
            if thread is None or _interrupt_in_user_code(thread):
                self._to_interrupt.discard(key)

    def _drain(self, timeout: float) -> list[tuple[str, DagsterEvent | _StepDone]]:
        """Wait up to `timeout` for one item, then take everything else already queued."""
        try:
            items = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._events.empty():
            items.append(self._events.get_nowait())
        return items


class ThreadPoolStepExecutor(Executor):
    """Executor that runs up to `max_concurrent` steps at once, each in its own thread."""

    def __init__(
        self,
        retries: RetryMode,
        max_concurrent: int = 8,
        tag_concurrency_limits: list[dict[str, Any]] | None = None,
        step_dependency_config: StepDependencyConfig | None = None,
    ) -> None:
        """Store the settings; `max_concurrent` must be at least 1."""
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}.")
        self._retries = retries
        self._max_concurrent = max_concurrent
        self._tag_concurrency_limits = tag_concurrency_limits or []
        self._step_dependency_config = step_dependency_config or StepDependencyConfig.default()

    @property
    def retries(self) -> RetryMode:
        """Whether step retries are enabled."""
        return self._retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        """When a step may start relative to its upstream steps."""
        return self._step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        """Initialize resources once, like the in-process executor, then run steps in threads."""
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in up to {self._max_concurrent} threads (pid: {os.getpid()})",
            event_specific_data=EngineEventData.in_process(os.getpid(), execution_plan.step_keys_to_execute),
        )
        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=self._execute_in_threads,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job,
                retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan,
                run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run,
                instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error,
                output_capture=plan_context.output_capture,
                step_dependency_config=self.step_dependency_config,
            ),
        )

    def _execute_in_threads(
        self, job_context: PlanExecutionContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        """Launch ready steps, relay their events to ActiveExecution, interrupt them on termination."""
        with ExitStack() as stack:
            active = stack.enter_context(
                ActiveExecution(
                    execution_plan,
                    retry_mode=job_context.retry_mode,
                    max_concurrent=self._max_concurrent,
                    tag_concurrency_limits=self._tag_concurrency_limits,
                    instance_concurrency_context=stack.enter_context(
                        InstanceConcurrencyContext(job_context.instance, job_context.dagster_run)
                    ),
                    step_dependency_config=job_context.step_dependency_config,
                )
            )
            yield from self._capture_run_logs(job_context, execution_plan, stack)
            steps = _StepThreads(job_context, active)
            interrupted = False
            try:
                while (not (interrupted or steps.error) and not active.is_complete) or steps.threads:
                    if active.check_for_interrupts() and not interrupted:
                        yield DagsterEvent.engine_event(
                            job_context,
                            "Threadpool executor: received termination signal, interrupting steps",
                            EngineEventData.interrupted(list(steps.threads)),
                        )
                        interrupted = True
                        active.mark_interrupted()
                        steps.interrupt_all()
                    if not (interrupted or steps.error):
                        for step in active.get_steps_to_execute(self._max_concurrent - len(steps.threads)):
                            steps.start(step)
                        yield from active.concurrency_event_iterator(job_context)
                    yield from steps.relay(self._wait_seconds(active))
                    yield from active.plan_events_iterator(job_context)
            except BaseException:
                steps.interrupt_all()
                raise
            if steps.error is not None:
                raise steps.error
            if interrupted:
                yield DagsterEvent.engine_event(
                    job_context, "Threadpool executor: interrupted all steps", EngineEventData()
                )
                raise DagsterExecutionInterruptedError()

    @staticmethod
    def _wait_seconds(active: ActiveExecution) -> float:
        """Poll interval, shortened when a retry or a concurrency-slot check falls due sooner."""
        interval = active.sleep_interval()
        return _POLL_SECONDS if interval == 0 else max(0.0, min(_POLL_SECONDS, interval))

    @staticmethod
    def _capture_run_logs(
        job_context: PlanExecutionContext, execution_plan: ExecutionPlan, stack: ExitStack
    ) -> Iterator[DagsterEvent]:
        """Capture stdout/stderr once for the run, as the in-process executor does."""
        manager = job_context.instance.compute_log_manager
        log_key = manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
        step_keys = [s.key for s in execution_plan.get_steps_to_execute_in_topo_order()]
        try:
            log_context = stack.enter_context(manager.capture_logs(log_key))
        except Exception:  # same policy as dagster: report it and run without capture
            error = serializable_error_info_from_exc_info(sys.exc_info())
            yield DagsterEvent.engine_event(
                job_context, "Exception while setting up compute log capture", EngineEventData(error=error)
            )
            return
        yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)


@dg.executor(
    name="threadpool",
    config_schema={
        "max_concurrent": dg.Field(int, default_value=8, description="Most steps run at once."),
        "tag_concurrency_limits": get_tag_concurrency_limits_config(),
        "retries": get_retries_config(),
        "step_dependency_config": get_step_dependency_config_field(),
    },
)
def threadpool_executor(init_context: dg.InitExecutorContext) -> ThreadPoolStepExecutor:
    """Run steps concurrently in threads of the run process (no process per step)."""
    config: Mapping[str, Any] = init_context.executor_config
    return ThreadPoolStepExecutor(
        retries=RetryMode.from_config(config["retries"]) or RetryMode.ENABLED,
        max_concurrent=config["max_concurrent"],
        tag_concurrency_limits=config.get("tag_concurrency_limits"),
        step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")),
    )
