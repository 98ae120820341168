"""Launch a pipeline run for one idea on the embedded (or configured) Dagster instance."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef  # not re-exported by `dagster`

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import StorageError, UserInputError
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunRecord, RunStore, WorkerInfo, atomic_write
from ideamine_core.tracing import set_figures, span_for_run
from ideamine_dagster.definitions import DEFAULT_EXECUTOR, reconstructable_pipeline_job
from ideamine_dagster.jobs import phase_selection
from ideamine_dagster.partitions import IDEAS
from ideamine_dagster.trace_steps import run_trace_tags

EMBEDDED_INSTANCE_YAML = """\
# Embedded IdeaMine instance: SQLite storage in this folder. See dagster.yaml in the repo for PostgreSQL.
telemetry:
  enabled: false
"""

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""The CLI prints its own one-paragraph report: Dagster's step failures (with their stack traces) stay
in the run's event log (`ideamine ui`) instead of the terminal."""


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance: DAGSTER_HOME if set, else the embedded one under the IdeaMine home."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            atomic_write(home / "dagster.yaml", EMBEDDED_INSTANCE_YAML)
    except OSError as exc:
        raise StorageError(
            f"cannot create the Dagster instance folder {home} ({exc.strerror})",
            fix="set IDEAMINE_HOME (or DAGSTER_HOME) to a writable folder",
        ) from exc
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def create_run(settings: Settings, submission: IdeaSubmission, phases: list[str]) -> RunRecord:
    """Record a new run (the submission is durable before anything executes)."""
    store = RunStore(settings.runs_dir)
    store.check_writable()
    return store.create(store.new_run_id(submission), submission, phases)


def execute_run(
    settings: Settings,
    instance: dg.DagsterInstance,
    record: RunRecord,
    executor: str = DEFAULT_EXECUTOR,
    simulated_latency_seconds: float = 0.0,
    reexecute_from: str | None = None,
) -> tuple[str, bool]:
    """Execute the selected phases of `record` for its idea partition; returns (Dagster run id, success).

    With `reexecute_from` (a failed Dagster run of this idea), only the steps that did not succeed
    run again; completed steps' outputs are reused.
    """
    instance.add_dynamic_partitions(IDEAS.name, [record.run_id])
    job = reconstructable_pipeline_job(settings, executor, simulated_latency_seconds)
    store = RunStore(settings.runs_dir)
    record.worker = WorkerInfo.current()
    store.save_run(record)
    options = dg.ReexecutionOptions.from_failure(reexecute_from, instance) if reexecute_from else None
    with (
        span_for_run(record.run_id) as span,
        dg.execute_job(
            job,
            instance=instance,
            asset_selection=None if options else phase_selection(record.phases),
            reexecution_options=options,
            # re-execution does not copy the partition tag (DAGSTER-NOTES §2e): always pass it
            tags={"dagster/partition": record.run_id, "ideamine/run_id": record.run_id} | run_trace_tags(),
            run_config=QUIET_LOGGERS,
            raise_on_error=False,
        ) as result,
    ):
        outcome = (result.run_id, result.success)
        set_figures(span, dagster_run_id=result.run_id, status="success" if result.success else "failure")
    record.dagster_run_ids.append(outcome[0])
    record.worker = None
    store.save_run(record)
    return outcome


UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def last_dagster_run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    """The newest Dagster run of an idea partition (including one whose worker was killed)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={"ideamine/run_id": run_id}), limit=1, ascending=False
    )
    return runs[0] if runs else None


def resume_run(
    settings: Settings, instance: dg.DagsterInstance, run_id: str, executor: str = DEFAULT_EXECUTOR
) -> tuple[str | None, bool]:
    """Continue a run that failed, was killed or paused: re-execute from failure; (run id, success).

    A Dagster run still marked started whose worker process is gone (killed with SIGKILL, machine
    restarted) is first marked failed, since Dagster's local launcher never notices that itself.
    Returns (None, True) when the run had already completed.
    """
    store = RunStore(settings.runs_dir)
    record = store.load_run(run_id)
    parent = last_dagster_run(instance, run_id)
    if parent is None:
        return execute_run(settings, instance, record, executor)
    if parent.status in UNFINISHED:
        if record.worker is not None and record.worker.is_alive():
            raise UserInputError(
                f"run {run_id} is still executing in process {record.worker.pid}",
                fix="wait for it to finish, or stop that process first",
            )
        instance.report_run_failed(parent, "its worker process died; marked failed by `ideamine resume`")
        parent = instance.get_run_by_id(parent.run_id)
    if parent is not None and parent.status == dg.DagsterRunStatus.SUCCESS:
        return None, True
    return execute_run(settings, instance, record, executor, reexecute_from=parent.run_id if parent else None)
