"""Shared fixtures: a temporary IdeaMine home, a temporary Dagster instance, and service backends.

Service-backed fixtures (PostgreSQL, Redis) use the real local services. Under ``CI=true`` a missing
service fails the test, so a green CI means they really ran; elsewhere the test is skipped with a
reason that says how to enable it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import cli_runs
import dagster as dg
import pytest
import sqlalchemy as sa
from support import DEMO, PG_URL, REDIS_URL, REPO, service_missing  # noqa: F401 - re-exported

from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import RunStore


def _session_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this session shares (kept like pytest's other temp folders)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under pytest-xdist, a test marked `exclusive` runs while no other worker runs a test.

    A readers-writer lock on files of the session folder: other tests hold it shared, an exclusive
    one holds it alone. The turnstile keeps new shared holders out while an exclusive test waits.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    folder = _session_dir(item.config._tmp_path_factory)  # type: ignore[attr-defined]
    exclusive = item.get_closest_marker("exclusive") is not None
    with open(folder / "turnstile.lock", "a") as turnstile, open(folder / "tests.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session", autouse=True)
def shared_cli_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The session's shared CLI runs (tests/cli_runs.py) live in the folder all workers share."""
    cli_runs.configure(_session_dir(tmp_path_factory) / "cli-runs")


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI console 200 columns wide for CliRunner tests (Rich reads COLUMNS once, at creation)."""
    from ideamine_dagster.cli.common import console

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console, "_width", 200)


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
