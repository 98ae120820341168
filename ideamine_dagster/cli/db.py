"""`ideamine db upgrade | grant ROLE | purge`: create or migrate the schema, grant the app role, clean up."""

from __future__ import annotations

from typing import Annotated

import typer

from ideamine_core.ledger.roles import grant_app_role
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database, open_database, redact_url
from ideamine_core.storage.reporting import purge_old
from ideamine_dagster.cli.common import command, console

db_app = typer.Typer(help="The IdeaMine database: migrate, grant the app role, retention clean-up.")


def open_db() -> Database:
    """The configured database, ready to use (the embedded SQLite one is migrated on first use)."""
    settings = Settings.from_env()
    return open_database(settings.db_url, embedded=settings.embedded_database)


@db_app.command()
@command
def upgrade() -> None:
    """Create or migrate the schema of DATABASE_URL (or the embedded SQLite database) to the newest."""
    settings = Settings.from_env()
    db = Database.for_url(settings.db_url)
    before = db.current_revision()
    db.setup()
    after = db.current_revision()
    change = "already at" if before == after else f"{before or 'empty'} →"
    console.print(f"database {redact_url(db.url)}: {change} revision {after}")


@db_app.command()
@command
def grant(
    role: Annotated[str, typer.Argument(help="Existing PostgreSQL role the pipeline connects as.")],
    schema: Annotated[str | None, typer.Option(help="Schema of the tables (default: current).")] = None,
) -> None:
    """Give ROLE least privilege: INSERT/SELECT on the ledger, read/write elsewhere (run as the owner)."""
    db = open_db()
    with db.write_once() as conn:
        statements = grant_app_role(conn, role, schema)
    for statement in statements:
        console.print(statement + ";", style="dim")
    console.print(f"granted {role}: it can append to the ledger but not change or delete entries")


@db_app.command()
@command
def purge(
    older_than: Annotated[float, typer.Option(help="Delete rows older than this many days.")] = 30.0,
) -> None:
    """Retention clean-up: old events, checkpoints and phase metrics (the ledger is never touched)."""
    counts = purge_old(open_db(), older_than)
    console.print(
        ", ".join(f"{n} {what}" for what, n in counts.items()) + f" older than {older_than:g} days deleted"
    )


def register(app: typer.Typer) -> None:
    """Add the `db` command group to the CLI."""
    app.add_typer(db_app, name="db")
