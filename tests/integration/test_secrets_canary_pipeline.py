"""RELIABILITY test 21 on the real pipeline: no secret setting reaches anything a full run writes.

Unique canaries go into every secret setting but the model's own key (tested with the fake model
servers): two `*_API_KEY`s, `IDEAMINE_LEDGER_KEY` (it signs the ledger head), the password of
`DATABASE_URL` (PostgreSQL; the local server's trust authentication accepts any password) and of
`REDIS_URL` (a throwaway redis-server started with `--requirepass`, since the shared one refuses
AUTH without a configured password). Debug logging goes to a file, spans to the console exporter.
Three agents fail once with every canary (and the full URLs) in their message: a model agent with a
bug (RuntimeError, retried by the op's retry policy), a model agent whose server "is unreachable"
(a classified, retried error with a supervisor decision) and a tool agent (a scanner crash). The
run then completes. Every output is searched: the log, stdout/stderr, the whole home folder (run
folder, dossier in three formats, Dagster's event log and run storage, compute logs), the workspace's
git history, every PostgreSQL table (ledger, events, checkpoints, cache, …) and every Redis key.
`detect-secrets` scans the artifacts and the workspace.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from dagster._serdes import serialize_value
from support import DEMO, REPO, service_missing

from ideamine_core import tracing
from ideamine_core.ledger import Ledger
from ideamine_core.phase import tasks
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.launcher import create_run, execute_run, open_instance
from ideamine_dagster.resources import phase_graph

TAG = uuid.uuid4().hex[:10]
ENV_CANARIES = {
    "ANTHROPIC_API_KEY": f"CANARY{TAG}anthropic",
    "SEARCH_API_KEY": f"CANARY{TAG}search",
    "IDEAMINE_LEDGER_KEY": f"CANARY{TAG}ledgerkey",
}
DB_PASSWORD, REDIS_PASSWORD = f"CANARY{TAG}dbpw", f"CANARY{TAG}redispw"
ALL = [*ENV_CANARIES.values(), DB_PASSWORD, REDIS_PASSWORD]
FAILING = {"RedTeam": (RuntimeError, 1), "Pricing": (ConnectionError, 4), "SAST": (RuntimeError, 1)}
"""Agent → the exception it raises and how often: a bug; a model server unreachable for longer than
the model call's own retries (so the op asks Dagster to retry); a scanner crash."""


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server that requires the canary password; stopped after the test."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*cmd, "--requirepass", REDIS_PASSWORD], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=REDIS_PASSWORD, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=10)


def with_password(pg_url: str) -> str:
    url = sa.engine.make_url(pg_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    try:
        Database(url).setup()  # as `ideamine db upgrade`
    except Exception as exc:  # noqa: BLE001 - only a server refusing the password is a missing service here
        service_missing("PostgreSQL accepting any password (trust auth)", pg_url, exc)
    return url


def inject_failures(monkeypatch: pytest.MonkeyPatch, leak: str) -> Counter[str]:
    """Each FAILING agent raises with `leak` as often as it says; returns how often each one did."""
    raised: Counter[str] = Counter()
    lock = threading.Lock()

    def fails(agent: str) -> bool:
        with lock:
            if raised[agent] >= FAILING.get(agent, (None, 0))[1]:
                return False
            raised[agent] += 1
            return True

    generate, run_tool = OfflineProvider.generate, tasks.run_tool_agent

    def failing_generate(self: OfflineProvider, spec: Any, ctx: Any) -> dict[str, Any]:
        if fails(spec.name):
            raise FAILING[spec.name][0](leak)
        return generate(self, spec, ctx)

    def failing_tool(spec: Any, ctx: Any, env: Any) -> Any:
        if fails(spec.name):
            raise FAILING[spec.name][0](leak)
        return run_tool(spec, ctx, env)

    monkeypatch.setattr(OfflineProvider, "generate", failing_generate)
    monkeypatch.setattr(tasks, "run_tool_agent", failing_tool)
    return raised


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Debug logging of every logger into a file (redaction is the handlers' and records' job)."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def dump_postgres(url: str) -> bytes:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            rows = {t: conn.exec_driver_sql(f'SELECT * FROM "{t}"').all() for t in tables}
    finally:
        engine.dispose()
    assert {"ledger", "events", "checkpoints", "phases"} <= set(rows) and rows["ledger"]
    return repr(rows).encode()


def dump_redis(url: str) -> bytes:
    client = redis.Redis.from_url(url)
    try:
        dumped = []
        for key in client.scan_iter("*"):
            kind = client.type(key)
            value = client.xrange(key) if kind == b"stream" else client.dump(key)
            dumped.append((key, value))
    finally:
        client.close()
    assert any(b"events" in key for key, _ in dumped), "events were published on Redis Streams"
    return repr(dumped).encode()


def home_bytes(home: Path) -> dict[str, bytes]:
    """Every file of the home folder (git objects read through `git log -p` instead: they are zipped)."""
    out = {
        str(p.relative_to(home)): p.read_bytes()
        for p in home.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    for repo in home.rglob(".git"):
        log = subprocess.run(
            ["git", "-C", str(repo.parent), "log", "--all", "-p"], capture_output=True, check=True
        )
        out[f"{repo.parent.relative_to(home)} (git history)"] = log.stdout
    return out


def detect_secrets_findings(paths: list[Path]) -> list[str]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with default_settings():
        found = SecretsCollection()
        found.scan_files(*[str(p) for p in paths], num_processors=2)
    return [f"{name}: {secret.type}" for name, secret in found]


RETRIED = {
    "critique.critique__agent[red_team]",
    "bizdev.bizdev__agent[pricing]",
    "security.security__agent[s_a_s_t]",
}


def test_no_canary_reaches_any_output_of_a_full_run(
    tmp_path: Path,
    pg_url: str,
    redis_with_password: str,
    debug_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    db_url = with_password(pg_url)
    env = ENV_CANARIES | {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_with_password,
        tracing.EXPORTER_ENV: "console",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    raised = inject_failures(
        monkeypatch, f"upstream said: {' '.join(ALL)} via {db_url} and {redis_with_password}"
    )
    settings = Settings(
        home=tmp_path / "home",
        config_dir=REPO / "phase_configs",
        database_url=db_url,
        redis_url=redis_with_password,
    )
    record = create_run(settings, DEMO, phase_graph(str(settings.config_dir)).order())
    tracing.shutdown_tracing()  # the next span reads IDEAMINE_OTEL_EXPORTER=console
    instance = open_instance(settings)
    started = time.perf_counter()
    try:
        dagster_run_id, success = execute_run(settings, instance, record)
        logs = instance.all_logs(dagster_run_id)
    finally:
        tracing.shutdown_tracing()
        instance.dispose()
    seconds = time.perf_counter() - started
    captured = capfd.readouterr()
    assert success, captured.err[-3000:]
    assert raised == {agent: times for agent, (_, times) in FAILING.items()}
    retried = {
        r.step_key
        for r in logs
        if r.dagster_event and r.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
    }
    assert retried >= RETRIED  # each injected failure reached Dagster, and the step ran again
    dagster_log = "\n".join(serialize_value(r) for r in logs).encode()
    assert b"upstream said: [REDACTED" in dagster_log  # ... with its message redacted
    assert '"name": "ideamine.run"' in captured.err and "DEBUG" in debug_log.read_text()

    outputs = home_bytes(settings.home)
    run_dir = f"runs/{record.run_id}"
    assert {f"{run_dir}/dossier.{ext}" for ext in ("json", "md", "html")} <= set(outputs)
    outputs |= {
        "debug log": debug_log.read_bytes(),
        "stdout+stderr": (captured.out + captured.err).encode(),
        "dagster event log": dagster_log,
        "postgresql tables": dump_postgres(db_url),
        "redis keys": dump_redis(redis_with_password),
    }
    hits = {name: n for name, data in outputs.items() if (n := sum(data.count(c.encode()) for c in ALL))}
    workspace = settings.runs_dir / record.run_id / "workspace"
    tracked = subprocess.run(
        ["git", "-C", str(workspace), "ls-files"], capture_output=True, text=True, check=True
    )
    scanned = [*(settings.runs_dir / record.run_id / "artifacts").iterdir()]
    scanned += [workspace / line for line in tracked.stdout.splitlines()]
    findings = detect_secrets_findings(scanned)
    size = sum(len(d) for d in outputs.values()) / 1e6
    print(
        f"\n[test21 pipeline] canary occurrences: {sum(hits.values())} in {len(outputs)} outputs "
        f"({size:.1f} MB) "
        f"{hits or ''}; detect-secrets findings: {len(findings)} in {len(scanned)} files; injected failures "
        f"retried: {len(retried & RETRIED)}/3; full run {seconds:.1f}s"
    )
    assert hits == {}
    assert findings == []
    assert Ledger(Database(db_url)).verify(record.run_id).ok  # signed with the canary key, which never shows


def test_the_dagster_ui_masks_the_url_settings_of_the_resource(tmp_path: Path) -> None:
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_graphql.schema.resources import GrapheneConfiguredValue

    settings = Settings(
        home=tmp_path / "home",
        config_dir=REPO / "phase_configs",
        database_url=f"postgresql+psycopg://app:{DB_PASSWORD}@db.internal:5432/ideamine",
        redis_url=f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
    )
    snap = RepositorySnap.from_def(build_definitions(settings).get_repository_def())
    resource = next(r for r in snap.resources if r.name == "ideamine")
    secret = {f.name: bool(f.is_secret) for f in resource.config_field_snaps}
    shown = {  # what the UI's Resources page displays, by its own rule
        key: GrapheneConfiguredValue(key, value, secret.get(key, False)).value
        for key, value in resource.configured_values.items()
    }
    assert str(settings.home) in shown["home"]  # plain settings are shown
    assert not [key for key, value in shown.items() if DB_PASSWORD in value or REDIS_PASSWORD in value]
