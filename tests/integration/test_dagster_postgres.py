"""The production dagster.yaml works for real: with DAGSTER_PG_URL set, runs and events go to PostgreSQL.

A fresh database is created on the local server, the repository's dagster.yaml is the instance
config, and a partial pipeline run (intake) executes and is found in PostgreSQL run storage.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from support import DEMO, PG_URL, REPO, service_missing

from ideamine_core.settings import Settings
from ideamine_dagster.launcher import create_run, execute_run


@pytest.fixture
def dagster_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for a Dagster instance (psycopg2 URL), dropped afterwards."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_missing("PostgreSQL", PG_URL, exc)
    url = sa.engine.make_url(PG_URL).set(drivername="postgresql", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_a_run_on_the_production_instance_config(
    tmp_path: Path, settings: Settings, dagster_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_home = tmp_path / "dagster-home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        record = create_run(settings, DEMO, ["intake"])
        dagster_run_id, success = execute_run(settings, instance, record, executor="in_process")
        assert success
        run = instance.get_run_by_id(dagster_run_id)
        assert run is not None and run.tags["dagster/partition"] == record.run_id
        assert instance.get_dynamic_partitions("ideas") == [record.run_id]
