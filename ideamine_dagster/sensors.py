"""Sensors: the idea inbox (one run per submitted idea) and failed runs recorded in the ledger."""

# No `from __future__ import annotations`: Dagster inspects these functions' annotations.

import dagster as dg

from ideamine_core.inbox import IdeaInbox
from ideamine_core.ledger import DecisionPayload, Ledger
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
