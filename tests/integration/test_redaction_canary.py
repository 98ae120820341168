"""RELIABILITY test 21 (audit-trail part): secret canaries never reach anything the audit trail writes.

Unique canary strings go into every kind of secret setting (API keys, a token, the ledger signing key,
the database, Redis and Dagster passwords). Ledger entries, provenance records, events (database,
JSON-lines file, Redis Streams) and log records (with a traceback) are then written carrying the
canaries in messages, errors and nested data. Every byte written — the database (file and WAL on
SQLite, table dumps on PostgreSQL), the event file, the log file and the Redis streams — is searched:
zero occurrences.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from ideamine_core.events import (
    DatabaseEventSink,
    EventBus,
    JsonlEventLog,
    RedisEventStream,
    stream_key,
)
from ideamine_core.ledger import DecisionPayload, Ledger, TaskPayload
from ideamine_core.provenance import ProvenanceStore, tool_name
from ideamine_core.redaction import RedactingFilter, install_log_redaction
from ideamine_core.storage.database import Database

TAG = uuid.uuid4().hex[:10]
CANARIES = {
    "OPENAI_API_KEY": f"sk-proj-CANARY{TAG}openai",
    "ANTHROPIC_API_KEY": f"CANARY{TAG}anthropic",
    "HF_TOKEN": f"CANARY{TAG}hftoken",
    "IDEAMINE_LEDGER_KEY": f"CANARY{TAG}ledgerkey",
    "DAGSTER_PG_PASSWORD": f"CANARY{TAG}dagsterpg",
}
URL_CANARIES = {
    "DATABASE_URL": (f"CANARY{TAG}dbpw", "postgresql://app:{}@db.internal:5432/ideamine"),
    "REDIS_URL": (f"CANARY{TAG}redispw", "redis://:{}@cache.internal:6379/0"),
}
ALL = [*CANARIES.values(), *(pw for pw, _ in URL_CANARIES.values())]


def leaky_text() -> str:
    return (
        "request failed; sent "
        + " / ".join(ALL)
        + " / "
        + " ".join(fmt.format(pw) for pw, fmt in URL_CANARIES.values())
    )


def dump_database(db: Database, tmp_path: Path) -> bytes:
    if db.is_sqlite:
        db.dispose()
        path = Path(sa.engine.make_url(db.url).database)
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with db.read() as conn:
        rows = [
            conn.exec_driver_sql(f"SELECT * FROM {t}").all()
            for t in ("ledger", "events", "artifacts", "artifact_inputs")
        ]
    return repr(rows).encode()


def test_no_canary_reaches_the_audit_trail(
    db: Database, tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    for name, (pw, fmt) in URL_CANARIES.items():
        monkeypatch.setenv(name, fmt.format(pw))
    text = leaky_text()

    ledger = Ledger(db)
    ledger.record("canary-run", TaskPayload(phase="build", agent="Implementer", status="failed", error=text))
    ledger.record(
        "canary-run", DecisionPayload(kind="retry", reason=text, detail={"request": {"headers": text}})
    )
    ledger.sign_head("canary-run")
    ProvenanceStore(db, ledger=ledger).record(
        "canary-run", tool_name("pytest", "report"), kind="tool", content_hash="sha256:00",
        producer={"tool": "pytest", "command": text}, inputs={f"input:{text[:40]}": "sha256:11"},
    )  # fmt: skip

    bus, stream = EventBus(), RedisEventStream(redis_url, prefix=redis_prefix)
    jsonl = JsonlEventLog(tmp_path / "events.jsonl")
    for sink in (DatabaseEventSink(db), jsonl, stream):
        bus.subscribe("*", sink)
    bus.emit("task.retry", "canary-run", "build", error=text, nested={"env": [text]})

    log_file = tmp_path / "ideamine.log"
    handler = logging.FileHandler(log_file)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("ideamine.canary")
    logger.addHandler(handler)
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr("ideamine_core.redaction._factory_installed", False)
    try:
        install_log_redaction()
        try:
            raise ConnectionError(text)
        except ConnectionError:
            logger.exception("model call failed: %s", text)
        logger.error(text)
    finally:
        logging.setLogRecordFactory(previous)
        logger.removeHandler(handler)
        handler.close()

    redis_dump = repr(
        [
            stream.client.xrange(stream_key(redis_prefix, "canary-run")),
            stream.client.xrange(stream_key(redis_prefix)),
        ]
    ).encode()
    stream.close()
    outputs = {
        "database": dump_database(db, tmp_path),
        "events.jsonl": (tmp_path / "events.jsonl").read_bytes(),
        "log": log_file.read_bytes(),
        "redis": redis_dump,
    }
    assert all(b"REDACTED" in data for data in outputs.values()), "every output was actually written"
    hits = {name: sum(data.count(c.encode()) for c in ALL) for name, data in outputs.items()}
    print(f"\n[test21 {db.dialect}] canary occurrences: {hits} (total {sum(hits.values())})")
    assert sum(hits.values()) == 0
    assert Ledger(Database(db.url)).verify("canary-run").ok
