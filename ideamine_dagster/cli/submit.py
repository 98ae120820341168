"""`ideamine submit`: queue an idea for the idea inbox sensor."""

from __future__ import annotations

from typing import Annotated

import typer

from ideamine_core.inbox import IdeaInbox
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_dagster.cli.common import command, console, parse_submission


@command
def submit(
    idea: Annotated[str, typer.Argument(help="The product idea, in quotes.")],
    users: Annotated[list[str], typer.Option("--users", "-u", help="Target users (repeatable).")] = [],  # noqa: B006
    constraint: Annotated[
        list[str], typer.Option("--constraint", "-c", help="A constraint (repeatable).")
    ] = [],  # noqa: B006
    resubmit: Annotated[bool, typer.Option(help="Run an idea again that was already submitted.")] = False,
) -> None:
    """Queue an idea; the `idea_inbox` sensor (ideamine daemon) turns it into exactly one run."""
    submission = parse_submission(idea, users, constraint)
    settings = Settings.from_env()
    inbox = IdeaInbox(open_database(settings.db_url, embedded=settings.embedded_database))
    existing = None if resubmit else inbox.find(submission)
    item = existing or inbox.submit(submission, resubmit=resubmit)
    verb = f"already submitted ({item.status}; --resubmit runs it again)" if existing else "queued"
    console.print(f"idea {verb}: key {item.idea_key} · run {item.run_id} (attempt {item.attempt})")
    console.print("the idea_inbox sensor starts it; run `ideamine daemon` (and `ideamine ui` to watch)")


def register(app: typer.Typer) -> None:
    """Add `submit` to the CLI."""
    app.command()(submit)
