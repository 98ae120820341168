"""Maintenance jobs and their schedules: retention clean-up and the daily summary."""

# No `from __future__ import annotations`: Dagster inspects these functions' annotations.

import time

import dagster as dg

from ideamine_core.storage.database import open_database
from ideamine_core.storage.reporting import purge_old
from ideamine_core.storage.run_store import atomic_write
from ideamine_core.summary import daily_summary
from ideamine_dagster.resources import IdeaMineResource


@dg.op(description="Delete events, checkpoints and phase metrics older than the retention period.")
def purge_old_records(context: dg.OpExecutionContext, ideamine: IdeaMineResource) -> dg.Output[dict]:
    """Retention clean-up; the ledger is never touched."""
    settings = ideamine.settings()
    deleted = purge_old(
        open_database(settings.db_url, embedded=settings.embedded_database), settings.retention_days
    )
    context.log.info(f"retention ({settings.retention_days:g} days) deleted {deleted}")
    return dg.Output(deleted, metadata={f"deleted_{k}": v for k, v in deleted.items()})


@dg.op(description="Write the last day's summary to $IDEAMINE_HOME/reports/.")
def write_daily_summary(ideamine: IdeaMineResource) -> dg.Output[str]:
    """Compile the summary and store it as `reports/summary-<date>.md`."""
    settings = ideamine.settings()
    text = daily_summary(open_database(settings.db_url, embedded=settings.embedded_database))
    path = settings.home / "reports" / f"summary-{time.strftime('%Y-%m-%d', time.gmtime())}.md"
    atomic_write(path, text)
    return dg.Output(
        str(path), metadata={"path": dg.MetadataValue.path(str(path)), "summary": dg.MetadataValue.md(text)}
    )


@dg.job(description="Retention clean-up of old events, checkpoints and metrics.")
def retention_job() -> None:
    """See `purge_old_records`."""
    purge_old_records()


@dg.job(description="Summary of the last day's runs.")
def daily_summary_job() -> None:
    """See `write_daily_summary`."""
    write_daily_summary()


retention_schedule = dg.ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="17 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily retention clean-up (IDEAMINE_RETENTION_DAYS, default 30).",
)
summary_schedule = dg.ScheduleDefinition(
    name="daily_summary",
    job=daily_summary_job,
    cron_schedule="0 7 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily summary written to $IDEAMINE_HOME/reports/.",
)
