"""`ideamine events RUN [--follow]`: print a run's events, and with --follow stream them live."""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Annotated

import sqlalchemy as sa
import typer

from ideamine_core.events import DEFAULT_STREAM_PREFIX, Event, RedisEventStream, follow_events, load_events
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import RunStore
from ideamine_core.storage.tables import RunRow
from ideamine_dagster.cli.common import command, console
from ideamine_dagster.cli.db import open_db

FINISHED = ("passed", "succeeded", "completed", "failed", "error", "cancelled")


def line(event: Event, as_json: bool) -> str:
    """One event as a line of text (or JSON)."""
    if as_json:
        return event.model_dump_json()
    when = dt.datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
    data = " ".join(f"{k}={v}" for k, v in event.data.items())
    return f"{when} {event.type:<22} {event.phase or '-':<12} {data}"


def history(db: Database, settings: Settings, run: str) -> list[Event]:
    """Stored events of the run; the run folder's event log when the database has none."""
    stored = [e for _, e in load_events(db, run)]
    if stored:
        return stored
    return RunStore(settings.runs_dir).event_log(run).read()


def run_finished(db: Database, run: str) -> bool:
    """True when the runs table says the run is over."""
    query = sa.select(RunRow.status).where(RunRow.run_id == run)
    status = db.read_with_retry(lambda conn: conn.execute(query).scalar_one_or_none())
    return status in FINISHED


@command
def events(
    run: Annotated[str, typer.Argument(help="Run id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing events as they arrive.")
    ] = False,
    type_: Annotated[str, typer.Option("--type", "-t", help="Only types matching this glob.")] = "*",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    redis_prefix: Annotated[
        str, typer.Option(envvar="IDEAMINE_REDIS_PREFIX", help="Key prefix of the Redis streams.")
    ] = DEFAULT_STREAM_PREFIX,
) -> None:
    """Print a run's events; --follow streams them (Redis Streams with REDIS_URL, else the database)
    until the run completes or Ctrl-C."""
    settings, db = Settings.from_env(), open_db()
    if not follow:
        for event in history(db, settings, run):
            if fnmatch.fnmatchcase(event.type, type_):
                console.print(line(event, as_json), markup=False, highlight=False)
        return
    stream = RedisEventStream(settings.redis_url, prefix=redis_prefix) if settings.redis_url else None
    source = "Redis Streams" if stream else "the database"
    console.print(f"following run {run} from {source}; Ctrl-C to stop", style="dim")
    followed = follow_events(run, db=db, stream=stream, done=lambda: run_finished(db, run))
    try:
        for event in followed:
            if fnmatch.fnmatchcase(event.type, type_):
                console.print(line(event, as_json), markup=False, highlight=False)
    finally:
        followed.close()
        if stream is not None:
            stream.close()


def register(app: typer.Typer) -> None:
    """Add `events` to the CLI."""
    app.command()(events)
