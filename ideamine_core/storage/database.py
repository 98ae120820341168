"""The IdeaMine database: an SQLAlchemy engine for SQLite (embedded default) or PostgreSQL.

SQLite is tuned for many writers in one or several processes: WAL journal, a 30 s busy timeout,
and write transactions opened with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a
read lock. Transient failures ("database is locked", a dropped PostgreSQL connection) are retried
by :meth:`Database.write`, whose callers make their writes idempotent.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random_exponential,
)

from ideamine_core.errors import ServiceUnavailableError, StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalize_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown without its credentials part
        return url.split("@")[-1]


LOCKED_MARKERS = ("database is locked", "database is busy")
"""SQLite: another writer holds the database."""
DROPPED_MARKERS = (
    "server closed the connection",
    "terminating connection",
    "connection reset",
    "consuming input failed",
    "ssl syscall error",
    "connection is closed",
    "the connection is lost",
)
"""The server ended a connection (killed backend, restart)."""
UNREACHABLE_MARKERS = ("connection refused", "could not connect")
"""No connection could be made (the server is down or not there)."""


def _error_text(exc: OperationalError) -> str:
    return str(exc.orig).lower() if exc.orig is not None else str(exc).lower()


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry can cure: SQLite busy/locked, a connection the server dropped or refused."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    text = _error_text(exc)
    return any(m in text for m in (*LOCKED_MARKERS, *DROPPED_MARKERS, *UNREACHABLE_MARKERS))


def _dropped(exc: BaseException) -> bool:
    """True when the server ended the connection, not when none could be made."""
    return isinstance(exc, OperationalError) and any(m in _error_text(exc) for m in DROPPED_MARKERS)


CONNECT_ATTEMPTS = 5
"""Connection attempts when the server drops a new connection during its set-up (0.05 s, doubling)."""


class Database:
    """One engine per URL and process; `read()` and `write()` hand out connections in a transaction."""

    _cache: dict[tuple[str, int], Database] = {}
    _cache_lock = threading.Lock()

    def __init__(self, url: str, *, echo: bool = False) -> None:
        """Create the engine (no connection is opened yet)."""
        self.url = normalize_url(url)
        self.dialect = sa.engine.make_url(self.url).get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(
                f"unsupported database {redact_url(self.url)!r}",
                fix="set DATABASE_URL to a postgresql+psycopg:// URL, or unset it for embedded SQLite",
            )
        self.engine = self._make_engine(echo)
        self.retries_absorbed = 0

    @classmethod
    def for_url(cls, url: str) -> Database:
        """The process-wide Database of `url` (engines are not shared across fork)."""
        key = (normalize_url(url), os.getpid())
        with cls._cache_lock:
            db = cls._cache.get(key)
            if db is None:
                db = cls._cache[key] = cls(url)
            return db

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded SQLite backend."""
        return self.dialect == "sqlite"

    def _make_engine(self, echo: bool) -> Engine:
        if self.dialect == "sqlite":
            path = sa.engine.make_url(self.url).database
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"cannot create the database folder {Path(path).parent} ({exc.strerror})",
                        fix="set IDEAMINE_HOME to a writable folder",
                    ) from exc
            engine = sa.create_engine(
                self.url,
                echo=echo,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=10,
                max_overflow=20,
            )
            _tune_sqlite(engine)
            return engine
        return sa.create_engine(
            self.url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_recycle=1800,
            connect_args={"connect_timeout": 10},
        )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (deferred on SQLite)."""
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write_once(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite); no retry."""
        with self._connect() as conn:
            conn = conn.execution_options(ideamine_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def write(self, fn: Callable[[Connection], T], *, max_seconds: float = 120.0) -> T:
        """Run `fn` in a write transaction, retrying transient failures; `fn` must be idempotent."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(max_seconds) | stop_after_attempt(200),
            reraise=True,
            before_sleep=self._count_retry,
        )
        for attempt in retrying:
            with attempt, self.write_once() as conn:
                return fn(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    def read_with_retry(self, fn: Callable[[Connection], T], *, max_seconds: float = 60.0) -> T:
        """Run `fn` in a read transaction, retrying transient failures."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(max_seconds),
            reraise=True,
            before_sleep=self._count_retry,
        )
        for attempt in retrying:
            with attempt, self.read() as conn:
                return fn(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_retry(self, state: Any) -> None:
        self.retries_absorbed += 1
        log.debug("retrying a database operation after %s", state.outcome.exception())

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        # a new connection the server dropped while it was being set up is made again; a locked SQLite
        # file is the caller's to retry; a server that refuses or cannot be reached is said at once
        retrying = Retrying(
            retry=retry_if_exception(_dropped),
            wait=wait_exponential(multiplier=0.05),
            stop=stop_after_attempt(CONNECT_ATTEMPTS),
            reraise=True,
            before_sleep=self._count_retry,
        )
        try:
            conn = retrying(self.engine.connect)
        except OperationalError as exc:
            if any(m in _error_text(exc) for m in LOCKED_MARKERS):
                raise
            raise ServiceUnavailableError(
                f"cannot connect to the database {redact_url(self.url)}: {_first_line(exc)}",
                fix="start the database or fix DATABASE_URL (unset it to use the embedded SQLite)",
            ) from exc
        with conn:
            yield conn

    def setup(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic ``upgrade head``)."""
        from alembic import command

        with self._connect() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            if self.dialect == "postgresql":
                # one migrator at a time across processes
                conn.exec_driver_sql("SELECT pg_advisory_lock(7406211)")
            try:
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7406211)")
                    conn.commit()

    def current_revision(self) -> str | None:
        """The schema revision stored in the database, or None before the first upgrade."""
        from alembic.runtime.migration import MigrationContext

        with self._connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_opened: set[tuple[str, int]] = set()
_opened_lock = threading.Lock()


def open_database(url: str, *, embedded: bool) -> Database:
    """The process-wide Database of `url`, ready to use.

    The embedded SQLite database is migrated automatically (once per process). A configured
    database (DATABASE_URL) must already be at the newest revision: migrating shared production
    storage is an explicit step, ``ideamine db upgrade``.
    """
    db = Database.for_url(url)
    key = (db.url, os.getpid())
    with _opened_lock:
        if key in _opened:
            return db
        if embedded:
            db.setup()
        else:
            current, head = db.current_revision(), head_revision()
            if current != head:
                raise StorageError(
                    f"the database {redact_url(db.url)} is at schema revision {current or 'none'}, "
                    f"not {head}",
                    fix="run `ideamine db upgrade` once to create or migrate the schema",
                )
        _opened.add(key)
    return db


def head_revision() -> str:
    """The newest schema revision shipped with this version of IdeaMine."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at our migrations for `url` (usable by the alembic CLI too)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _tune_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys, and explicit BEGIN so writers can ask for IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("ideamine_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
