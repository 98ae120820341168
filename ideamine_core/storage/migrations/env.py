"""Alembic environment: runs migrations on the connection IdeaMine hands over (or the configured URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from ideamine_core.storage.tables import METADATA

config = context.config


def _run(connection: sa.engine.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Online migrations only: IdeaMine always migrates a live database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


run_migrations()
