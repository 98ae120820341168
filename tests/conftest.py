"""Shared fixtures: a temporary IdeaMine home, a temporary Dagster instance, and service backends.

Service-backed fixtures (PostgreSQL, Redis) use the real local services. Under ``CI=true`` a missing
service fails the test, so a green CI means they really ran; elsewhere the test is skipped with a
reason that says how to enable it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from support import DEMO, PG_URL, REDIS_URL, REPO, service_missing  # noqa: F401 - re-exported

from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import RunStore


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private, editable copy of the default phase configs."""
    target = tmp_path / "phase_configs"
    shutil.copytree(REPO / "phase_configs", target)
    return target


@pytest.fixture
def settings(tmp_path: Path, config_dir: Path) -> Settings:
    """Settings on a temporary home and the private config copy."""
    return Settings(home=tmp_path / "home", config_dir=config_dir)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A temporary persistent (SQLite) Dagster instance."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def store(settings: Settings) -> RunStore:
    """The run store of the temporary home."""
    return RunStore(settings.runs_dir)


@pytest.fixture(autouse=True)
def no_model_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reaches a real model provider: such requests fail (here and in child processes)."""
    from ideamine_core.providers import request_gate

    monkeypatch.setenv(request_gate.ENV_VAR, "none")
    with request_gate.allow_model_requests("none"):
        yield


@pytest.fixture
def allow_local_model_requests(monkeypatch: pytest.MonkeyPatch, no_model_requests: None) -> Iterator[None]:
    """Allow model requests again, to servers on 127.0.0.1 only (the tests' local fake servers)."""
    from ideamine_core.providers import request_gate

    monkeypatch.setenv(request_gate.ENV_VAR, "local")
    with request_gate.allow_model_requests("local"):
        yield


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_missing("PostgreSQL", PG_URL, exc)
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'ideamine.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: the conformance suites run against SQLite and PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each backend."""
    database = Database(db_url)
    database.setup()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis; keys the test creates should use a unique prefix (see `redis_prefix`)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", REDIS_URL, exc)
    finally:
        client.close()
    yield REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted after the test."""
    import redis

    prefix = f"ideamine-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
