"""Agents on Anthropic's messages protocol, over real HTTP to a local fake server.

The request maps the prompt to `system` + a user message, the output model to a tool with its JSON
schema, and carries the key in `x-api-key`; the `tool_use` answer maps to the validated output and its
`usage` to tokens and a genai-prices cost; a 529 (overloaded) is retried; invalid output is repaired
through a `tool_result` that carries the validation error. Intake runs through the pipeline on
`anthropic:<model>` against the same server.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
from fake_llm import FakeLLMServer, Reply

from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.runner import run_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.ledger import Ledger
from ideamine_core.providers import pricing
from ideamine_core.providers.caller import CallerConfig, ModelCaller
from ideamine_core.resilience.retry import RetryPolicy
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore

pytestmark = pytest.mark.usefixtures("allow_local_model_requests")

KEY = "sk-ant-canary-5d1e0b77"
ANTHROPIC = ("anthropic", "claude-sonnet-4-5")
SPEC = get_agent("Persona")
SUB = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", users=["remote teams"])
CTX = AgentContext(run_id="run-anthropic", phase="ideation", agent="Persona", submission=SUB)
GOOD = SPEC.offline_rule(CTX).model_dump(mode="json")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """A fake messages API answering Persona's valid output; ANTHROPIC_* point at it."""
    with FakeLLMServer("anthropic", responder=lambda body: Reply(output=GOOD)) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        yield fake


def _caller() -> ModelCaller:
    config = CallerConfig(
        models=("anthropic:claude-sonnet-4-5",), max_output_tokens=2048, retry=RetryPolicy(base_delay=0.01)
    )
    return ModelCaller(config, cache=None)


def test_request_and_response_mapping(server: FakeLLMServer) -> None:
    result = run_agent(SPEC, CTX, _caller())
    assert result.output == GOOD and server.count == 1
    received = server.received[0]
    auth = received.headers.get("x-api-key") or received.headers.get("authorization", "").removeprefix(
        "Bearer "
    )
    assert received.path == "/v1/messages" and auth == KEY
    assert "anthropic-version" in received.headers
    body = received.body
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 2048
    system = body["system"] if isinstance(body["system"], str) else "".join(b["text"] for b in body["system"])
    assert "You are Persona, an agent of the ideation phase" in system
    (message,) = body["messages"]
    text = message["content"] if isinstance(message["content"], str) else message["content"][0]["text"]
    assert message["role"] == "user" and text.startswith("# Task\nDescribe 3 to 5 personas")
    (tool,) = body["tools"]
    assert set(tool["input_schema"]["required"]) >= {"personas", "use_cases"}
    assert body["tool_choice"]["type"] in ("any", "tool")
    record = result.call
    assert record is not None and (record.provider, record.model) == ("anthropic", "claude-sonnet-4-5")
    served = server.answer(body, Reply(output=GOOD))["usage"]
    assert (record.tokens_in, record.tokens_out) == (served["input_tokens"], served["output_tokens"])
    assert record.cost_usd == pricing.cost_usd(
        "anthropic", "claude-sonnet-4-5", record.tokens_in, record.tokens_out
    )
    assert result.provenance.provider == "anthropic"


def test_without_max_tokens_the_answer_is_streamed_and_mapped_the_same(server: FakeLLMServer) -> None:
    caller = ModelCaller(CallerConfig(models=("anthropic:claude-sonnet-4-5",)), cache=None)
    result = run_agent(SPEC, CTX, caller)
    assert server.received[0].body["stream"] is True and result.output == GOOD
    assert result.call is not None and result.call.tokens_out > 0


def test_overloaded_is_retried_and_invalid_output_repaired(server: FakeLLMServer) -> None:
    server.script(Reply(status=529), Reply(output={"personas": "none"}))
    result = run_agent(SPEC, CTX, _caller())
    assert result.output == GOOD and server.count == 3
    assert result.call is not None and result.call.retries == 1 and result.call.repair_attempts == 1
    feedback = server.received[2].body["messages"][-1]["content"]
    results = [block for block in feedback if block.get("type") == "tool_result"]
    assert results and results[0]["is_error"] is True


def test_intake_runs_on_anthropic_through_the_pipeline(
    settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IDEAMINE_MODEL=anthropic:<model>: intake's agents answer over the messages API, tokens and cost in
    the ledger equal to what the server billed, the key in no run file."""
    from rules_model import rules_answer

    from ideamine_dagster.launcher import create_run, execute_run

    with FakeLLMServer("anthropic", responder=rules_answer) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        model = settings.model_copy(update={"model": ":".join(ANTHROPIC)})
        record = create_run(model, SUB, ["intake"])
        _, success = execute_run(model, instance, record, "in_process")
    assert success and fake.count == 3
    store = RunStore(model.runs_dir)
    results = store.load_artifact(record.run_id, "intake").results
    assert {(r.provenance.provider, r.provenance.model) for r in results} == {
        ("anthropic", "claude-sonnet-4-5")
    }
    costs = Ledger(open_database(model.db_url, embedded=True)).payloads(record.run_id, "cost")
    billed_in, billed_out = fake.billed()
    assert len(costs) == 3 and all(c["provider"] == "anthropic" and c["cost_usd"] > 0 for c in costs)
    assert (sum(c["tokens_in"] for c in costs), sum(c["tokens_out"] for c in costs)) == (
        billed_in,
        billed_out,
    )
    leaks = [p for p in model.home.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []
