"""Sensors: the idea inbox turns submitted ideas into partitions and run requests, one run per idea."""

from __future__ import annotations

import dagster as dg

from ideamine_core.inbox import IdeaInbox
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
