"""The whole pipeline on `openai:<model>` against a local chat-completions server (issue 3, end to end).

One module fixture records three runs of all 13 phases and every test reads them. The fake server plays
a model that follows its prompts (`rules_model`: the offline rules applied to the context each prompt
shows) and two faults are scripted: intake's Classifier first gets HTTP 429 with `Retry-After: 1`,
ideation's Persona first gets truncated JSON. Events also go to Redis Streams, and debug logging is on.
1. a run of the idea on the server; 2. the same idea again on the same server; 3. `ideamine run
--replay RUN_ID` of the first, with the server stopped and model requests switched off. Contracts:
- every phase passes on openai; the ledger has a `cost` entry per request the server answered, whose
  tokens sum to the server's own count exactly, and each phase's materialization metadata carries its
  tokens, cost and per-agent usage (repairs included), equal to the ledger's;
- the 429 is waited out and retried once; the truncated output is repaired by one re-ask, recorded;
- the second run makes zero requests and the replay reproduces every phase's artifact hash;
- the API key is in no artifact, log, event (JSONL, database, Redis stream), ledger, cache or checkpoint
  row, dossier, workspace file or commit, or Dagster event log.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic_ai.models as pai_models
import pytest
import redis
from fake_llm import FakeLLMServer, Reply
from rules_model import rules_answer, system_text
from support import DEMO, REDIS_URL, REPO, service_missing
from typer.testing import CliRunner

from ideamine_core.agents.registry import PHASES as PIPELINE_PHASES
from ideamine_core.events import DEFAULT_STREAM_PREFIX, stream_key
from ideamine_core.ledger import Ledger
from ideamine_core.providers import pricing, request_gate
from ideamine_core.providers.caller import CACHE_MODE_ENV
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore

pytestmark = [pytest.mark.slow]

KEY = "sk-pipeline-canary-93c0d15ab7"
MODEL = "gpt-4.1-mini"
PHASES = list(PIPELINE_PHASES)


class FaultyModel:
    """The rules model, answering the first request of some agents with a scripted fault."""

    def __init__(self, faults: dict[str, Reply]) -> None:
        self.faults = dict(faults)
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            fault = self.faults.pop(agent_of(body), None)
        return fault or rules_answer(body)


def agent_of(body: dict[str, Any]) -> str:
    """The agent a request is for (named in its system instructions)."""
    return system_text(body).split(",", 1)[0].removeprefix("You are ")


@dataclass
class Recorded:
    """The three runs and what was observed around them."""

    settings: Settings
    server: FakeLLMServer
    run_ids: list[str]
    dagster_run_ids: list[str]
    requests: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    billed: tuple[int, int] = (0, 0)
    logs: list[str] = field(default_factory=list)
    cli_output: str = ""
    cli_exit: int | None = None
    streams: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    dagster_events: list[str] = field(default_factory=list)

    @property
    def store(self) -> RunStore:
        return RunStore(self.settings.runs_dir)

    def ledger(self) -> Ledger:
        return Ledger(open_database(self.settings.db_url, embedded=True))

    def hashes(self, run_id: str) -> dict[str, str]:
        return {p: self.store.load_artifact(run_id, p).hash() for p in PHASES}


class _Capture(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """Run, re-run and replay the idea (see the module docstring); streams deleted after."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", REDIS_URL, exc)
    root = tmp_path_factory.mktemp("openai-run")
    shutil.copytree(REPO / "phase_configs", root / "configs")
    faults = {
        "Classifier": Reply(status=429, headers={"Retry-After": "1"}),
        "Persona": Reply(output='{"personas": [{"name": "Alex'),
    }
    server = FakeLLMServer("openai", responder=FaultyModel(faults)).start()
    settings = Settings(
        home=root / "home",
        config_dir=root / "configs",
        model=f"openai:{MODEL}",
        model_base_url=server.url,
        redis_url=REDIS_URL,
    )
    rec = Recorded(settings=settings, server=server, run_ids=[], dagster_run_ids=[])
    try:
        with pytest.MonkeyPatch.context() as mp, _debug_logs(rec.logs):
            mp.setenv("OPENAI_API_KEY", KEY)
            mp.setenv(request_gate.ENV_VAR, "local")
            _record(rec)
        rec.streams = {run: [json.dumps(fields) for _, fields in _xrange(client, run)] for run in rec.run_ids}
        yield rec
    finally:
        server.stop()
        for run in rec.run_ids:
            client.delete(stream_key(DEFAULT_STREAM_PREFIX, run))
        client.close()


def _xrange(client: redis.Redis, run_id: str) -> list[tuple[bytes, dict[str, str]]]:
    entries = client.xrange(stream_key(DEFAULT_STREAM_PREFIX, run_id))
    return [(i, {k.decode(): v.decode() for k, v in f.items()}) for i, f in entries]


def _record(rec: Recorded) -> None:
    from dagster._serdes import serialize_value

    from ideamine_dagster.launcher import create_run, execute_run

    # runs 1 and 2 on an in-memory instance (the SQLite event log's writes would double this fixture's
    # time); the replay below runs on the embedded SQLite instance under the home, as `ideamine run` does
    instance = dg.DagsterInstance.ephemeral()
    try:
        with request_gate.allow_model_requests("local"):
            for attempt in range(2):
                started = time.perf_counter()
                record = create_run(rec.settings, DEMO, PHASES)
                dagster_run_id, success = execute_run(rec.settings, instance, record)
                rec.seconds.append(round(time.perf_counter() - started, 1))
                assert success, _failures(instance, dagster_run_id)
                rec.run_ids.append(record.run_id)
                rec.dagster_run_ids.append(dagster_run_id)
                rec.requests.append(rec.server.count)
                if attempt == 0:
                    rec.billed = rec.server.billed()
        rec.metadata = _materializations(instance, rec.dagster_run_ids[0])
        rec.dagster_events = [serialize_value(e) for r in rec.dagster_run_ids for e in instance.all_logs(r)]
    finally:
        instance.dispose()
    rec.server.stop()
    env = rec.settings.as_env() | {
        "OPENAI_API_KEY": KEY,
        request_gate.ENV_VAR: "none",
        CACHE_MODE_ENV: None,  # restored after: the CLI sets it to replay in this process
        "DAGSTER_HOME": None,
    }
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        # requests switched off by the environment alone: no process-wide override from other tests
        mp.setattr(request_gate, "ALLOW_MODEL_REQUESTS", None)
        mp.setattr(pai_models, "ALLOW_MODEL_REQUESTS", True)
        result = CliRunner().invoke(_cli(), ["run", "ignored", "--replay", rec.run_ids[0]], env=env)
    rec.seconds.append(round(time.perf_counter() - started, 1))
    rec.cli_output, rec.cli_exit = result.output, result.exit_code
    replay_id = result.output.split("run ", 1)[1].split()[0] if "run " in result.output else "?"
    rec.run_ids.append(replay_id)


def _cli() -> Any:
    from ideamine_dagster.cli.app import app

    return app


def _failures(instance: dg.DagsterInstance, dagster_run_id: str) -> str:
    logs = instance.all_logs(dagster_run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return "\n".join(str(e.dagster_event.event_specific_data.error.message)[:1500] for e in logs)


class _debug_logs:  # noqa: N801 - used as a context manager
    """Root logger at DEBUG, every record formatted into `lines` (as a log file would be)."""

    def __init__(self, lines: list[str]) -> None:
        self.handler = _Capture(lines)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def __enter__(self) -> None:
        root = logging.getLogger()
        self.level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.level)


# --- tokens, cost and metadata ------------------------------------------------------------------------


def test_every_phase_passes_on_openai_with_tokens_and_cost_per_call(recorded: Recorded) -> None:
    first = recorded.run_ids[0]
    results = [r for p in PHASES for r in recorded.store.load_artifact(first, p).results]
    producers = Counter(r.provenance.provider for r in results)
    assert set(producers) == {"openai", "tool"} and producers["openai"] >= 40, producers
    costs = recorded.ledger().payloads(first, "cost")
    assert len(costs) == recorded.requests[0] - 1  # every answered request billed once; the 429 is not
    assert all(c["provider"] == "openai" and c["model"] == MODEL and c["cost_usd"] > 0 for c in costs)
    billed_in, billed_out = recorded.billed
    assert sum(c["tokens_in"] for c in costs) == billed_in
    assert sum(c["tokens_out"] for c in costs) == billed_out
    assert sum(c["cost_usd"] for c in costs) == pytest.approx(
        pricing.cost_usd("openai", MODEL, billed_in, billed_out), rel=1e-6
    )
    print(
        f"full run on openai (local server): {recorded.requests[0]} requests, {billed_in} tokens in, "
        f"{billed_out} out, ${sum(c['cost_usd'] for c in costs):.4f} = ledger cost entries"
    )


def _materializations(instance: dg.DagsterInstance, dagster_run_id: str) -> dict[str, dict[str, Any]]:
    """Phase → the metadata of its asset materialization in a Dagster run."""
    logs = instance.all_logs(dagster_run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    found = [e.asset_materialization for e in logs if e.asset_materialization is not None]
    return {m.asset_key.path[-1]: {k: v.value for k, v in m.metadata.items()} for m in found}


def _usage_rows(table: str) -> dict[str, dict[str, str]]:
    """The agent_usage markdown table as agent → column → cell."""
    lines = [line.strip("|").split("|") for line in table.splitlines()]
    header = [c.strip() for c in lines[0]]
    rows = [dict(zip(header, (c.strip() for c in cells), strict=True)) for cells in lines[2:]]
    return {row["agent"]: row for row in rows}


def test_phase_and_agent_totals_are_in_the_materialization_metadata(recorded: Recorded) -> None:
    metadata = recorded.metadata
    assert sorted(metadata) == sorted(PHASES)
    costs = recorded.ledger().payloads(recorded.run_ids[0], "cost")
    for phase, meta in metadata.items():
        mine = [c for c in costs if c["phase"] == phase]
        assert meta["metric_tokens_in"] == sum(c["tokens_in"] for c in mine), phase
        assert meta["metric_tokens_out"] == sum(c["tokens_out"] for c in mine), phase
        assert meta["metric_cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in mine), abs=1e-6), phase
        if not mine:  # a phase of tool agents only (scanners, test runner) calls no model
            continue
        rows = _usage_rows(meta["agent_usage"])
        assert set(rows) == {c["agent"] for c in mine}, phase
        for agent, row in rows.items():
            agent_costs = [c for c in mine if c["agent"] == agent]
            assert int(row["tokens in"]) == sum(c["tokens_in"] for c in agent_costs), (phase, agent)
            assert int(row["tokens out"]) == sum(c["tokens_out"] for c in agent_costs), (phase, agent)


# --- faults: rate limit, malformed output ---------------------------------------------------------------


def test_a_429_with_retry_after_is_waited_out_and_retried_once(recorded: Recorded) -> None:
    classifier = [r for r in recorded.server.received if agent_of(r.body) == "Classifier"]
    assert len(classifier) == 2 and classifier[0].body == classifier[1].body
    assert classifier[1].at - classifier[0].at >= 1.0
    tasks = recorded.ledger().payloads(recorded.run_ids[0], "task")
    done = [t for t in tasks if t["agent"] == "Classifier"]
    assert [t["status"] for t in done] == ["succeeded"] and done[0]["provider"] == "openai"


def test_truncated_json_is_repaired_by_one_re_ask_and_recorded(recorded: Recorded) -> None:
    persona = [r for r in recorded.server.received if agent_of(r.body) == "Persona"]
    assert len(persona) == 2
    re_ask = json.dumps(persona[1].body["messages"][-1])
    assert "Invalid JSON" in re_ask or "validation" in re_ask.lower()
    costs = [c for c in recorded.ledger().payloads(recorded.run_ids[0], "cost") if c["agent"] == "Persona"]
    assert len(costs) == 2 and sum(c["tokens_in"] for c in costs) == sum(r.usage[0] for r in persona)
    row = _usage_rows(recorded.metadata["ideation"]["agent_usage"])["Persona"]
    assert row["repairs"] == "1" and row["calls"] == "1"
    output = recorded.store.load_artifact(recorded.run_ids[0], "ideation").output_of("Persona")
    assert output["personas"] and output["use_cases"]


# --- cache and replay ---------------------------------------------------------------------------------


def test_the_same_idea_run_again_makes_zero_requests(recorded: Recorded) -> None:
    first, second = recorded.run_ids[:2]
    assert recorded.requests[1] == recorded.requests[0]
    assert recorded.hashes(second) == recorded.hashes(first)
    assert recorded.ledger().payloads(second, "cost") == []
    tasks = [t for t in recorded.ledger().payloads(second, "task") if t["provider"] == "openai"]
    assert tasks and all(t["cached"] and t["tokens_in"] == 0 for t in tasks)


def test_replay_with_the_server_stopped_reproduces_every_artifact(recorded: Recorded) -> None:
    assert recorded.cli_exit == 0, recorded.cli_output[-3000:]
    first, replay = recorded.run_ids[0], recorded.run_ids[2]
    assert replay != first and sorted(recorded.store.load_run(replay).phases) == sorted(PHASES)
    assert recorded.hashes(replay) == recorded.hashes(first)
    assert recorded.server.count == recorded.requests[0]
    print(
        f"13 phases: run {recorded.seconds[0]} s, same idea again {recorded.seconds[1]} s (0 requests), "
        f"replay {recorded.seconds[2]} s with the server stopped (identical hashes)"
    )


# --- the API key --------------------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def _git_history(home: Path) -> str:
    """Every commit of every workspace, with its full patch (git objects are compressed on disk)."""
    texts = []
    for git in home.rglob(".git"):
        log = subprocess.run(
            ["git", "-C", str(git.parent), "log", "--all", "-p", "--format=%H %s%n%b"],
            capture_output=True,
            text=True,
            check=True,
        )
        texts.append(log.stdout)
    return "\n".join(texts)


def _dagster_event_log(recorded: Recorded) -> str:
    """Every event of every Dagster run: the two in memory, and those of the embedded SQLite instance."""
    from dagster._serdes import serialize_value

    from ideamine_dagster.launcher import open_instance

    instance = open_instance(recorded.settings)
    try:
        runs = [r.dagster_run.run_id for r in instance.get_run_records()]
        stored = [serialize_value(e) for r in runs for e in instance.all_logs(r)]
    finally:
        instance.dispose()
    assert runs, "the replay ran on the embedded instance"
    return "\n".join([*recorded.dagster_events, *stored])


def test_the_api_key_is_nowhere(recorded: Recorded) -> None:
    home, first = recorded.settings.home, recorded.run_ids[0]
    files = list(_files(home))
    sources: dict[str, str] = {
        "logs": "\n".join(recorded.logs),
        "cli": recorded.cli_output,
        "git": _git_history(home),
        "dagster": _dagster_event_log(recorded),
        "redis": "\n".join(line for lines in recorded.streams.values() for line in lines),
    }
    # each source really holds what it should, as plain text the search can see
    db = next(p for p in files if p.suffix == ".db" and p.parent == home)
    assert first.encode() in db.read_bytes()
    assert all(first in sources[s] for s in ("dagster", "redis")), "stores read as text"
    assert "httpx" in sources["logs"] and "Implementer" in sources["git"]
    kinds = {p.suffix for p in files}
    assert {".jsonl", ".html", ".md", ".json", ".db", ".py"} <= kinds, kinds
    leaks = [str(p.relative_to(home)) for p in files if KEY.encode() in p.read_bytes()]
    leaks += [name for name, text in sources.items() if KEY in text]
    assert leaks == []
    print(f"API key canary: 0 hits in {len(files)} files, git history, logs, Redis and Dagster events")
