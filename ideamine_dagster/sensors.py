"""Sensors: the idea inbox (one run per submitted idea), failed runs recorded in the ledger, and the
supervisor (stalled tasks, dead runs, due timers)."""

# No `from __future__ import annotations`: Dagster inspects these functions' annotations.

import dagster as dg

from ideamine_core.inbox import IdeaInbox
from ideamine_core.ledger import DecisionPayload, Ledger
from ideamine_core.resilience.supervision import supervise
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.jobs import PIPELINE_JOB
from ideamine_dagster.partitions import IDEAS
from ideamine_dagster.resources import IdeaMineResource, phase_graph

INBOX_BATCH = 50


@dg.sensor(
    name="idea_inbox",
    job_name=PIPELINE_JOB,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ideas from `ideamine submit`, the drop folder `$IDEAMINE_HOME/inbox/` or the database "
    "become `ideas` partitions and pipeline runs; the run key is the idea key, so each runs once.",
)
def idea_inbox_sensor(context: dg.SensorEvaluationContext, ideamine: IdeaMineResource) -> dg.SensorResult:
    """Ingest the drop folder, then request one run per idea submitted since the cursor."""
    settings = ideamine.settings()
    inbox = IdeaInbox(open_database(settings.db_url, embedded=settings.embedded_database))
    inbox.ingest_folder(settings.home / "inbox")
    items = inbox.after(int(context.cursor or 0), limit=INBOX_BATCH)
    if not items:
        return dg.SensorResult(skip_reason="no new ideas in the inbox")
    store = RunStore(settings.runs_dir)
    phases = phase_graph(str(settings.config_dir)).order()
    for item in items:
        if not (store.run_dir(item.run_id) / "run.json").exists():
            store.create(item.run_id, item.submission, phases)
        inbox.mark(item.idea_key, "requested", item.run_id)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=item.idea_key,
                partition_key=item.run_id,
                tags={"ideamine/run_id": item.run_id, "ideamine/source": item.source},
            )
            for item in items
        ],
        dynamic_partitions_requests=[IDEAS.build_add_request([item.run_id for item in items])],
        cursor=str(items[-1].seq),
    )


@dg.run_failure_sensor(
    name="run_failure_to_ledger",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed pipeline run in its idea's ledger as a `decision` entry.",
)
def run_failure_sensor(context: dg.RunFailureSensorContext, ideamine: IdeaMineResource) -> None:
    """Append a `run_failed` decision (idempotent per Dagster run) naming the failed steps."""
    run = context.dagster_run
    run_id = run.tags.get("ideamine/run_id") or run.tags.get("dagster/partition")
    if not run_id:
        return
    settings = ideamine.settings()
    ledger = Ledger(open_database(settings.db_url, embedded=settings.embedded_database))
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    payload = DecisionPayload(
        kind="run_failed",
        reason=context.failure_event.message or "the run failed",
        detail={"dagster_run_id": run.run_id, "failed_steps": failed_steps},
    )
    ledger.record(run_id, payload, key=f"run_failed:{run.run_id}")


UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def build_supervisor_sensor(interval_seconds: float) -> dg.SensorDefinition:
    """The supervisor sensor, evaluated every `interval_seconds` (the smallest heartbeat interval)."""

    @dg.sensor(
        name="supervisor",
        minimum_interval_seconds=max(1, int(interval_seconds)),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Detects stalled and flat tasks (ledger decision + `phase.stalled`/`task.retry` events), "
        "marks runs whose worker died interrupted (and their Dagster run FAILED), and fires due timers.",
    )
    def supervisor_sensor(context: dg.SensorEvaluationContext, ideamine: IdeaMineResource) -> dg.SkipReason:
        """One supervisor pass; a dead run's unfinished Dagster run is reported failed."""
        report = supervise(ideamine.runtime(), phase_graph(ideamine.config_dir).phases.values())
        for dead in report.dead_runs:
            _fail_dagster_run(context.instance, dead.run_id)
        return dg.SkipReason(report.summary())

    return supervisor_sensor


def _fail_dagster_run(instance: dg.DagsterInstance, run_id: str) -> None:
    """Mark the newest Dagster run of `run_id` failed if Dagster still thinks it is going."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"ideamine/run_id": run_id}), limit=1)
    if runs and runs[0].status in UNFINISHED:
        instance.report_run_failed(runs[0], "its worker stopped beating; marked failed by the supervisor")
