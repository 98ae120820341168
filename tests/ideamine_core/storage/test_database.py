"""The database layer: migrations create exactly the mapped schema, on SQLite and PostgreSQL.

Also: transient errors are classified, SQLite writers do not see "database is locked", and an
unreachable database is a ServiceUnavailableError that names the URL without its password.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ideamine_core.errors import ServiceUnavailableError, StorageError
from ideamine_core.storage.database import Database, normalize_url, redact_url
from ideamine_core.storage.tables import METADATA, EventRow


def test_migrated_schema_matches_the_table_mappings(db: Database) -> None:
    with db.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), METADATA)
    assert diff == []
    assert db.current_revision() is not None


def test_setup_twice_is_a_no_op(db: Database) -> None:
    before = db.current_revision()
    db.setup()
    assert db.current_revision() == before


def test_concurrent_writers_never_see_a_lock_error(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(40):
                db.write(
                    lambda c, i=i: c.execute(
                        sa.insert(EventRow).values(
                            event_id=f"w{n}-{i}", run_id="r", type="t", ts=float(i), data={}
                        )
                    )
                )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EventRow)).scalar_one() == 320


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # plain postgresql:// goes to psycopg 3, which we ship
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        # explicit drivers and SQLite are left alone
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_redact_url_hides_the_password() -> None:
    assert "s3cret" not in redact_url("postgresql+psycopg://user:s3cret@db.example:5432/x")


def test_unreachable_postgres_is_a_clear_service_error() -> None:
    db = Database("postgresql+psycopg://user:s3cret@127.0.0.1:1/nothing")
    with pytest.raises(ServiceUnavailableError) as info:
        db.setup()
    text = info.value.explain()
    assert "127.0.0.1:1" in text and "s3cret" not in text and "DATABASE_URL" in text


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(StorageError) as info:
        Database("mysql://u@h/db")
    assert "DATABASE_URL" in info.value.explain()


def test_open_database_migrates_the_embedded_default(sqlite_url: str) -> None:
    from ideamine_core.storage.database import head_revision, open_database

    db = open_database(sqlite_url, embedded=True)
    assert db.current_revision() == head_revision()


def test_open_database_refuses_an_unmigrated_configured_database(pg_url: str) -> None:
    from ideamine_core.storage.database import open_database

    with pytest.raises(StorageError) as info:
        open_database(pg_url, embedded=False)
    assert "ideamine db upgrade" in info.value.explain()
    Database(pg_url).setup()
    assert open_database(pg_url, embedded=False).current_revision() is not None


class _Flaky:
    """Stands in for `engine.connect`: the server drops the first `drops` new connections during set-up."""

    def __init__(self, real: object, drops: int, message: str) -> None:
        self.real, self.drops, self.message, self.calls = real, drops, message, 0

    def __call__(self) -> sa.Connection:
        self.calls += 1
        if self.calls <= self.drops:
            raise sa.exc.OperationalError("select pg_catalog.version()", {}, Exception(self.message))
        return self.real()  # type: ignore[operator]


def test_a_connection_dropped_while_it_is_set_up_is_made_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seen when PostgreSQL backends are killed (RELIABILITY 13): a brand-new connection dies in set-up
    db = Database(pg_url)
    flaky = _Flaky(db.engine.connect, 2, "terminating connection due to administrator command")
    monkeypatch.setattr(db.engine, "connect", flaky)
    try:
        assert db.read_with_retry(lambda conn: conn.execute(sa.text("SELECT 1")).scalar_one()) == 1
        assert flaky.calls == 3 and db.retries_absorbed == 2
    finally:
        db.dispose()


def test_a_refused_connection_is_reported_at_once(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(sqlite_url)
    flaky = _Flaky(db.engine.connect, 10, "connection refused")
    monkeypatch.setattr(db.engine, "connect", flaky)
    with pytest.raises(ServiceUnavailableError, match="connection refused"):
        db.current_revision()
    assert flaky.calls == 1
