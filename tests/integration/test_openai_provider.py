"""Agents on an OpenAI-compatible server, over real HTTP to a local fake (127.0.0.1, ephemeral port).

Checks the whole call path: tokens and cost recorded; malformed output repaired by re-asking with the
error; 429 + Retry-After waited out; a 500, a timeout or a rate limit that outlasts its retries falls
back to the next model; a repeated request served from the cache with zero requests; replay with the
server stopped; the API key found nowhere; clear typed errors for an unreachable server, a 401, a
context overflow and output that never validates.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fake_llm import FakeLLMServer, Reply

from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.runner import run_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import (
    ContextLengthExceededError,
    IdeaMineError,
    ModelHTTPError,
    ModelOutputInvalidError,
    ModelUnavailableError,
    ReplayMissError,
    RetryClass,
)
from ideamine_core.providers import pricing
from ideamine_core.providers.cache import CacheMode, ResponseCache
from ideamine_core.providers.caller import CallerConfig, ModelCaller
from ideamine_core.providers.request_gate import allow_model_requests
from ideamine_core.resilience.retry import RetryPolicy
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import ModelCallRow

pytestmark = pytest.mark.usefixtures("allow_local_model_requests")

KEY = "sk-canary-7f3b9c2e41d8a6"
MODEL = "openai:gpt-4.1-mini"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, transient_attempts=2)
SUB = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", users=["remote teams"])
SPEC = get_agent("Classifier")
CTX = AgentContext(run_id="run-openai", phase="intake", agent="Classifier", submission=SUB)
GOOD = SPEC.offline_rule(CTX).model_dump(mode="json")


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A canary API key: it must reach the server and nowhere else."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A fake chat-completions server answering the Classifier's valid output unless scripted."""
    with FakeLLMServer("openai", responder=lambda body: Reply(output=GOOD)) as fake:
        yield fake


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database for tests that are not about the cache backend."""
    database = Database(sqlite_url)
    database.setup()
    yield database
    database.dispose()


def _caller(server: FakeLLMServer, db: Database | None, **config: Any) -> ModelCaller:
    options: dict[str, Any] = {"models": (MODEL,), "openai_base_url": server.url, "retry": FAST} | config
    return ModelCaller(CallerConfig(**options), cache=ResponseCache(db) if db is not None else None)


def _cache_rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(ModelCallRow.__table__)))


def test_a_call_succeeds_and_records_tokens_and_cost(server: FakeLLMServer, sqlite_db: Database) -> None:
    result = run_agent(SPEC, CTX, _caller(server, sqlite_db))
    assert result.output == GOOD and server.count == 1
    received = server.received[0]
    assert received.path == "/v1/chat/completions" and received.headers["authorization"] == f"Bearer {KEY}"
    assert received.body["model"] == "gpt-4.1-mini" and received.body["tool_choice"] == "required"
    assert "Build a collaborative todo app" in received.body["messages"][-1]["content"]
    record = result.call
    assert record is not None
    served = server.answer(received.body, Reply(output=GOOD))["usage"]
    assert (record.tokens_in, record.tokens_out) == (served["prompt_tokens"], served["completion_tokens"])
    assert record.cost_usd == pricing.cost_usd("openai", "gpt-4.1-mini", record.tokens_in, record.tokens_out)
    assert record.cost_usd and record.cost_usd > 0 and record.latency_ms > 0 and not record.cached
    assert (result.provenance.provider, result.provenance.model) == ("openai", "gpt-4.1-mini")
    assert result.provenance.generator_version.startswith("pydantic-ai/")
    print(
        f"one call: {record.tokens_in}/{record.tokens_out} tokens, ${record.cost_usd}, {record.latency_ms} ms"
    )


def test_malformed_json_is_repaired_by_re_asking_with_the_error(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    server.script(Reply(output='{"category": "productivity", "domain_keywords": ["to'))
    result = run_agent(SPEC, CTX, _caller(server, sqlite_db))
    assert result.output == GOOD and server.count == 2
    assert result.call is not None and result.call.repair_attempts == 1 and len(result.call.requests) == 2
    feedback = server.received[1].body["messages"][-1]
    assert feedback["role"] == "tool" and "json_invalid" in feedback["content"]


@pytest.mark.parametrize(
    "bad",
    [
        (Reply(output='{"category": "product'), 1),  # truncated JSON: re-asked once
        (Reply(text="```json\n" + json.dumps(GOOD) + "\n```"), 0),  # fenced JSON as text: parsed as is
        (Reply(output=GOOD | {"domain_keywords": "todo"}), 1),  # wrong type
        (Reply(output={"category": "productivity"}), 1),  # missing fields
        (Reply(output=GOOD | {"colour": "blue"}), 1),  # extra field (the schema forbids it)
        (Reply(output=""), 1),  # empty arguments
        (Reply(output="x" * 10_000_000), 1),  # 10 MB of garbage
        (
            Reply(output=json.dumps([[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]])),
            1,
        ),  # deeply nested arrays
    ],
    ids=["truncated", "fenced", "wrong-type", "missing", "extra", "empty", "10MB", "nested"],
)
def test_malformed_structured_output_is_repaired_within_the_budget(
    bad: tuple[Reply, int], server: FakeLLMServer, sqlite_db: Database
) -> None:
    reply, re_asks = bad
    server.script(reply)
    started = time.perf_counter()
    result = run_agent(SPEC, CTX, _caller(server, sqlite_db, repair_attempts=3))
    seconds = time.perf_counter() - started
    assert result.output == GOOD and result.call is not None and result.call.repair_attempts == re_asks
    assert server.count == re_asks + 1 and seconds < 30
    print(f"malformed output repaired with {re_asks} re-ask(s) in {seconds:.2f} s")


def test_a_model_that_keeps_returning_invalid_output_fails_with_the_raw_output(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    server.responder = lambda body: Reply(output={"category": "still wrong"})
    with pytest.raises(ModelOutputInvalidError) as info:
        run_agent(SPEC, CTX, _caller(server, sqlite_db, repair_attempts=2), on_invalid="raise")
    error = info.value
    assert server.count == 2 and error.attempts == 2
    assert error.last_raw_output == '{"category": "still wrong"}' and "still wrong" in error.explain()
    assert "domain_keywords" in (error.validation_error or "") and error.tokens_in > 0
    assert error.call_record.outcome == "invalid_output"  # type: ignore[attr-defined]


def test_429_with_retry_after_is_waited_out(server: FakeLLMServer, sqlite_db: Database) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "1"}))
    started = time.perf_counter()
    result = run_agent(SPEC, CTX, _caller(server, sqlite_db))
    waited = time.perf_counter() - started
    assert result.output == GOOD and server.count == 2 and waited >= 1.0
    assert result.call is not None and result.call.retries == 1
    print(f"429 Retry-After: 1 → waited {waited:.2f} s, then succeeded")


def test_retry_after_ms_and_x_should_retry_are_honoured(server: FakeLLMServer, sqlite_db: Database) -> None:
    server.script(Reply(status=503, headers={"retry-after-ms": "150"}))
    started = time.perf_counter()
    run_agent(SPEC, CTX, _caller(server, sqlite_db))
    assert server.count == 2 and time.perf_counter() - started >= 0.15
    server.script(Reply(status=503, headers={"x-should-retry": "false"}))
    with pytest.raises(ModelHTTPError):
        run_agent(SPEC, CTX.model_copy(update={"instruction": "new request"}), _caller(server, sqlite_db))
    assert server.count == 3  # not retried


def test_a_500_on_the_first_model_falls_back_to_the_second(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    def by_model(body: dict[str, Any]) -> Reply:
        return Reply(status=500) if body["model"] == "gpt-4.1-mini" else Reply(output=GOOD)

    server.responder = by_model
    caller = _caller(server, sqlite_db, models=(MODEL, "openai:gpt-4.1-nano"))
    result = run_agent(SPEC, CTX, caller)
    assert result.output == GOOD and [r.body["model"] for r in server.received] == ["gpt-4.1-mini"] * 2 + [
        "gpt-4.1-nano"
    ]
    assert result.provenance.model == "gpt-4.1-nano"
    assert result.call is not None
    (step,) = result.call.fallback_steps
    assert step.model == MODEL and step.retry_class == "transient" and "HTTP 500" in step.error


def test_a_timeout_on_the_first_model_falls_back_to_the_second(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    timeout, slow = 0.3, 2.0  # CallerConfig.request_timeout: seconds per upstream attempt

    def by_model(body: dict[str, Any]) -> Reply:
        return Reply(output=GOOD, delay=slow) if body["model"] == "gpt-4.1-mini" else Reply(output=GOOD)

    server.responder = by_model
    caller = _caller(server, sqlite_db, models=(MODEL, "openai:gpt-4.1-nano"), request_timeout=timeout)
    started = time.perf_counter()
    result = run_agent(SPEC, CTX, caller)
    seconds = time.perf_counter() - started
    tries = FAST.attempts_for(RetryClass.TRANSIENT)  # a timeout is transient: retried, then left
    received = list(server.received)
    assert [r.body["model"] for r in received] == ["gpt-4.1-mini"] * tries + ["gpt-4.1-nano"]
    assert result.output == GOOD and result.provenance.model == "gpt-4.1-nano"
    gaps = [b.at - a.at for a, b in zip(received, received[1:], strict=False)]
    assert all(gap < slow / 2 for gap in gaps)  # each slow attempt was given up long before its answer
    time.sleep(max(0.0, received[tries - 1].at + slow + 0.3 - time.monotonic()))  # the slow answers came due
    assert [r.abandoned for r in received] == [True] * tries + [False]  # and found their client gone
    assert result.call is not None and result.call.retries == tries - 1
    (step,) = result.call.fallback_steps
    assert step.model == MODEL and step.retry_class == "transient"
    assert "did not answer" in step.error and "timed out" in step.error.lower()
    print(f"timeout {timeout} s: {tries} attempts on {MODEL}, then gpt-4.1-nano, in {seconds:.2f} s")


def test_a_rate_limit_that_outlasts_its_retries_falls_back_to_the_second_model(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    def by_model(body: dict[str, Any]) -> Reply:
        if body["model"] == "gpt-4.1-mini":
            return Reply(status=429, headers={"Retry-After": "0"})
        return Reply(output=GOOD)

    server.responder = by_model
    caller = _caller(server, sqlite_db, models=(MODEL, "openai:gpt-4.1-nano"))
    result = run_agent(SPEC, CTX, caller)
    tries = FAST.attempts_for(RetryClass.RATE_LIMIT)
    assert tries != FAST.attempts_for(RetryClass.TRANSIENT)  # so the count below tells the classes apart
    assert [r.body["model"] for r in server.received] == ["gpt-4.1-mini"] * tries + ["gpt-4.1-nano"]
    assert result.output == GOOD and result.provenance.model == "gpt-4.1-nano"
    assert result.call is not None and result.call.retries == tries - 1
    (step,) = result.call.fallback_steps
    assert step.model == MODEL and step.retry_class == "rate_limit" and "HTTP 429" in step.error
    assert [row.model for row in _cache_rows(sqlite_db)] == ["gpt-4.1-nano"]  # the 429s are never cached


def test_the_same_request_twice_makes_zero_requests_the_second_time(
    server: FakeLLMServer, db: Database
) -> None:
    first = run_agent(SPEC, CTX, _caller(server, db))
    assert server.count == 1
    second = run_agent(SPEC, CTX.model_copy(update={"run_id": "another-run"}), _caller(server, db))
    assert server.count == 1 and second.output == first.output
    assert second.call is not None and second.call.cached and second.call.tokens_in == 0
    assert second.call.cost_usd == 0.0 and second.call.requests[0].tokens_in == first.call.tokens_in  # type: ignore[union-attr]


def test_replay_with_the_server_stopped_gives_identical_outputs(server: FakeLLMServer, db: Database) -> None:
    server.script(Reply(output='{"broken'))  # the recorded run needed a repair: replay repeats it exactly
    recorded = run_agent(SPEC, CTX, _caller(server, db))
    server.stop()
    with allow_model_requests("none"):  # any network call would fail the replay
        replayed = run_agent(SPEC, CTX, _caller(server, db, cache_mode=CacheMode.REPLAY))
    assert replayed.model_dump_json() == recorded.model_dump_json()
    assert replayed.call is not None and replayed.call.cached and replayed.call.repair_attempts == 1


def test_a_replay_miss_is_a_clear_error_and_makes_no_request(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    with pytest.raises(ReplayMissError) as info:
        run_agent(SPEC, CTX, _caller(server, sqlite_db, cache_mode=CacheMode.REPLAY))
    assert server.count == 0
    assert "never made" in info.value.explain() and "without --replay" in info.value.explain()
    assert _cache_rows(sqlite_db) == []


def test_an_unreachable_server_is_a_clear_transient_error(sqlite_db: Database) -> None:
    caller = ModelCaller(
        CallerConfig(models=(MODEL,), openai_base_url="http://127.0.0.1:9/v1", retry=FAST),
        cache=ResponseCache(sqlite_db),
    )
    with pytest.raises(ModelUnavailableError) as info:
        run_agent(SPEC, CTX, caller)
    assert "could not be reached" in info.value.explain() and info.value.call_record.retries == 1  # type: ignore[attr-defined]
    assert _cache_rows(sqlite_db) == []  # errors are never cached


def test_a_401_is_fatal_names_the_key_variable_and_is_not_retried(
    server: FakeLLMServer, sqlite_db: Database
) -> None:
    server.script(
        Reply(status=401, body=json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}))
    )
    with pytest.raises(ModelHTTPError) as info:
        run_agent(SPEC, CTX, _caller(server, sqlite_db, models=(MODEL, "openai:gpt-4.1-nano")))
    assert server.count == 1 and info.value.status == 401 and "OPENAI_API_KEY" in info.value.explain()
    assert KEY not in info.value.explain()


def test_a_context_overflow_is_its_own_error_class(server: FakeLLMServer, sqlite_db: Database) -> None:
    body = {"error": {"message": "maximum context length is 8192 tokens", "code": "context_length_exceeded"}}
    server.script(Reply(status=400, body=json.dumps(body)))
    with pytest.raises(ContextLengthExceededError) as info:
        run_agent(SPEC, CTX, _caller(server, sqlite_db, models=(MODEL, "openai:gpt-4.1-nano")))
    assert server.count == 1 and "split the input into chunks" in info.value.explain()


def test_the_api_key_appears_in_no_cache_row_record_log_or_error(
    server: FakeLLMServer, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(
        Reply(status=500, body=json.dumps({"error": {"message": f"upstream said: Bearer {KEY}"}})),
        Reply(output='{"also broken'),
    )
    result = run_agent(SPEC, CTX, _caller(server, sqlite_db))
    server.script(Reply(status=403, body=json.dumps({"error": {"message": f"key {KEY} has no access"}})))
    with pytest.raises(IdeaMineError) as info:
        run_agent(SPEC, CTX.model_copy(update={"instruction": "again"}), _caller(server, sqlite_db))
    texts = [
        caplog.text,
        result.model_dump_json(),
        result.call.model_dump_json() if result.call else "",
        info.value.explain(),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
        info.value.call_record.model_dump_json(),  # type: ignore[attr-defined]
        *(str(tuple(row)) for row in _cache_rows(sqlite_db)),
    ]
    assert server.received[0].headers["authorization"] == f"Bearer {KEY}"  # the key did reach the server
    hits = sum(text.count(KEY) for text in texts)
    print(f"API key canary: {hits} occurrence(s) in {len(texts)} outputs")
    assert hits == 0


def test_a_password_in_the_base_url_is_not_stored(server: FakeLLMServer, sqlite_db: Database) -> None:
    url = server.url.replace("http://", "http://user:pw-canary-0042@")
    run_agent(SPEC, CTX, _caller(server, sqlite_db, openai_base_url=url))
    (row,) = _cache_rows(sqlite_db)
    assert server.count == 1 and "pw-canary-0042" not in str(tuple(row))
    assert "127.0.0.1" in row.response["text"]  # the endpoint itself is kept, without credentials
