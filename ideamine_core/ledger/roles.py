"""Least-privilege PostgreSQL role for the application: INSERT and SELECT on the ledger, nothing more.

The app role is not the owner of the tables, so besides the append-only triggers it cannot UPDATE,
DELETE or TRUNCATE ledger rows (no privilege) nor ``ALTER TABLE ledger DISABLE TRIGGER`` (only
the owner may). Migrations run as the owner (``ideamine db upgrade``); the pipeline connects as the
app role. The role itself (``CREATE ROLE … LOGIN PASSWORD …``) is made by the DBA, so no password
passes through IdeaMine.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

from ideamine_core.errors import UserInputError
from ideamine_core.storage.tables import METADATA

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY_TABLES = ("ledger",)


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise UserInputError(
            f"{name!r} is not a plain PostgreSQL role or schema name",
            fix="use lower-case letters, digits and underscores (at most 63 characters)",
        )
    return f'"{name}"'


def app_role_grants(role: str, schema: str) -> list[str]:
    """The statements giving `role` what the pipeline needs in `schema`, and the ledger append-only."""
    r, s = _ident(role), _ident(schema)
    statements = [f"GRANT USAGE ON SCHEMA {s} TO {r}"]
    for table in sorted(METADATA.tables):
        name = f"{s}.{_ident(table)}"
        if table in APPEND_ONLY_TABLES:
            statements.append(f"REVOKE ALL ON {name} FROM {r}")
            statements.append(f"GRANT SELECT, INSERT ON {name} TO {r}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {r}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
    statements.append(f"GRANT SELECT ON {s}.alembic_version TO {r}")
    return statements


def grant_app_role(conn: Connection, role: str, schema: str | None = None) -> list[str]:
    """Apply `app_role_grants` on PostgreSQL (as the tables' owner); returns the statements run."""
    if conn.dialect.name != "postgresql":
        raise UserInputError(
            "roles exist only on PostgreSQL; the embedded SQLite database relies on its triggers",
            fix="set DATABASE_URL to the PostgreSQL database, connected as the owner of the tables",
        )
    schema = schema or conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    statements = app_role_grants(role, schema)
    for statement in statements:
        conn.exec_driver_sql(statement)
    return statements
