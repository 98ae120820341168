"""A context too long for the model: the task splits its largest input and succeeds (map-reduce).

Over HTTP against the local OpenAI-compatible server, which answers HTTP 400 `context_length_exceeded`
(naming its window and the request's size, as OpenAI does) to any request longer than LIMIT tokens
and plays the offline rules otherwise. Intake's Classifier gets an idea about four times the window:
the whole prompt is refused once, then the idea is sent in parts that each fit, then one merge call
gets the part outputs. The supervisor's `split_input` decision and the split itself are in the ledger;
a re-run pays nothing; a task that dies after some parts goes on after the last checkpointed part,
without sending the whole prompt again or repeating a part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_llm import FakeLLMServer, Reply, tokens, user_text
from rules_model import rules_answer, system_text

from ideamine_core.agents.registry import agent_names, get_agent
from ideamine_core.config.loader import load_phase_configs
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import ModelHTTPError
from ideamine_core.phase.service import PhaseService
from ideamine_core.phase.tasks import task_id_of
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore

pytestmark = [pytest.mark.usefixtures("allow_local_model_requests"), pytest.mark.timeout(60)]

LIMIT = 1500
"""The fake model's context window, in the fake tokenizer's tokens (four characters each)."""
MODEL = "gpt-4.1-mini"
PARAGRAPH = (
    "Remote team members need to capture todo items on their phones while offline, see each other's "
    "changes within a second once they reconnect, and resolve conflicting edits without losing work. "
)
IDEA = "Build a collaborative todo app with real-time sync.\n\n" + "\n\n".join(
    f"Requirement {i}: {PARAGRAPH * 2}" for i in range(28)
)


def _size(body: dict[str, Any]) -> int:
    return tokens(system_text(body) + user_text(body))


def _small_window(body: dict[str, Any]) -> Reply:
    size = _size(body)
    if size > LIMIT:
        message = (
            f"This model's maximum context length is {LIMIT} tokens. However, your messages resulted in "
            f"{size} tokens. Please reduce the length of the messages."
        )
        error = {"message": message, "type": "invalid_request_error", "code": "context_length_exceeded"}
        return Reply(status=400, body=json.dumps({"error": error}))
    return rules_answer(body)


def _setup(settings: Settings, url: str) -> tuple[PhaseService, AgentContext]:
    model = settings.model_copy(update={"model": f"openai:{MODEL}", "model_base_url": url})
    graph = load_phase_configs(model.config_dir, agent_names())
    store = RunStore(model.runs_dir)
    submission = IdeaSubmission(idea=IDEA, users=["remote teams"], constraints=["mobile-first"])
    run_id = store.new_run_id(submission)
    store.create(run_id, submission, ["intake"])
    service = PhaseService(graph, Runtime.of(model), OfflineProvider(), get_agent)
    ctx = next(c for c in service.plan(run_id, "intake") if c.agent == "Classifier")
    return service, ctx


def _decisions(service: PhaseService, run_id: str) -> list[dict[str, Any]]:
    return service.runtime.ledger.payloads(run_id, "decision")


def test_a_context_too_long_is_split_into_parts_that_fit_then_merged(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-split-test")
    with FakeLLMServer("openai", responder=_small_window) as server:
        service, ctx = _setup(settings, server.url)
        result = service.run_agent(ctx)
        sizes = [_size(r.body) for r in server.received]
        first_run = server.count
        again = service.run_agent(ctx)  # the durable result: no request at all
        assert server.count == first_run

    splits = [d for d in _decisions(service, ctx.run_id) if d.get("kind") == "split_input"]
    assert len(splits) == 1
    split = splits[0]["detail"]
    chunks = split["chunks"]
    assert split["input"] == "idea" and chunks >= 2 and len(split["sizes"]) == chunks
    assert max(split["sizes"]) <= split["max_tokens"] and split["limit_tokens"] == LIMIT
    # the whole prompt once (refused), one call per part, one merge call; every part and the merge fit
    assert sizes[0] > LIMIT and len(sizes) == 1 + chunks + 1 and max(sizes[1:]) <= LIMIT
    prompts = [user_text(r.body) for r in server.received]
    for index, prompt in enumerate(prompts[1 : 1 + chunks]):
        assert f"this is part {index + 1} of {chunks}" in prompt
    assert "## Classifier (part 1 of" in prompts[-1] and "Merge them into one complete output" in prompts[-1]

    supervisor = [d for d in _decisions(service, ctx.run_id) if d.get("strategy") == "split_input"]
    assert len(supervisor) == 1 and supervisor[0]["plan"]["chunks"] == chunks
    assert supervisor[0]["decision_id"] == split["decision_id"]
    events = [json.loads(line) for line in service.store.run_dir(ctx.run_id).joinpath("events.jsonl").open()]
    retries = [e for e in events if e["type"] == "task.retry"]
    assert [e["data"]["strategy"] for e in retries] == ["split_input"]

    assert result.provenance.provider == "openai"
    get_agent("Classifier").output_model.model_validate(result.output)  # one typed output
    assert result.call is not None and len(result.call.requests) == 1 + chunks  # every paid request
    assert again.output == result.output
    assert service.runtime.checkpoints.load(task_id_of(ctx)) is None  # dropped once the result was durable
    print(
        f"\nsplit: window {LIMIT} tokens, whole prompt {sizes[0]}, {chunks} parts of ≤ {split['max_tokens']} "
        f"(sizes {split['sizes']}), largest request after the split {max(sizes[1:])}, "
        f"requests {first_run} then 0 on re-run"
    )


def test_a_split_task_that_died_goes_on_after_its_last_checkpointed_part(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-split-test")
    calls = {"n": 0}

    def dies_at_part_2(body: dict[str, Any]) -> Reply:
        if _size(body) <= LIMIT and "this is part 2 of" in user_text(body) and not calls["n"]:
            calls["n"] += 1  # the worker's call fails for good (fatal) once: the task ends failed
            return Reply(status=401, body=json.dumps({"error": {"message": "key revoked"}}))
        return _small_window(body)

    with FakeLLMServer("openai", responder=dies_at_part_2) as server:
        service, ctx = _setup(settings, server.url)
        with pytest.raises(ModelHTTPError):
            service.run_agent(ctx)
        assert server.count == 3  # whole prompt (refused), part 1, part 2 (401)
        saved = service.runtime.checkpoints.load(task_id_of(ctx))
        assert saved is not None and saved.seq == 0 and len(saved.data["parts"]) == 1
        before = server.count
        result = service.run_agent(ctx)
        resumed = server.received[before:]

    chunks = saved.data["split"]["sizes"]
    # no whole prompt again, part 1 not asked again (not even of the cache): parts 2..n and the merge
    assert len(resumed) == len(chunks) - 1 + 1 and all(_size(r.body) <= LIMIT for r in resumed)
    assert "this is part 2 of" in user_text(resumed[0].body)
    assert result.call is not None and not any(r.cached for r in result.call.requests)
    splits = [d for d in _decisions(service, ctx.run_id) if d.get("kind") == "split_input"]
    assert len(splits) == 1  # one split, resumed, not decided again


def test_an_input_that_cannot_be_split_fails_as_before(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A window too small even for the prompt without its input: no split, the context error stands."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-split-test")

    def tiny(body: dict[str, Any]) -> Reply:
        error = {
            "message": f"This model's maximum context length is 10 tokens. However, your messages resulted "
            f"in {_size(body)} tokens.",
            "code": "context_length_exceeded",
        }
        return Reply(status=400, body=json.dumps({"error": error}))

    from ideamine_core.errors import ContextLengthExceededError

    with FakeLLMServer("openai", responder=tiny) as server:
        service, ctx = _setup(settings, server.url)
        with pytest.raises(ContextLengthExceededError) as info:
            service.run_agent(ctx)
        assert server.count == 1 and info.value.limit_tokens == 10
    assert not [d for d in _decisions(service, ctx.run_id) if d.get("kind") == "split_input"]
