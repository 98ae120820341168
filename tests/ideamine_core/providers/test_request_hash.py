"""Request hashing is canonical: layout-equal requests share a key, any meaningful change gets a new one.

RELIABILITY test 24 (first half): key order, whitespace and float formatting never change a key;
model, provider, temperature, seed, system prompt, messages, tool schemas or response format always
do; run ids, timestamps and random tool-call ids never do; 10,000 distinct requests never collide.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from ideamine_core.providers.request_hash import build_request, canonical_value, hash_request

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12)
scalars |= st.floats(allow_nan=False, allow_infinity=False, width=64)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=15,
)

FIELDS = ("provider", "model", "temperature", "seed", "system", "messages", "tools", "response_format")
requests = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["openai", "anthropic"]),
        "model": st.text(min_size=1, max_size=20),
        "temperature": st.floats(0, 2, allow_nan=False),
        "seed": st.integers(0, 2**31),
        "system": st.text(max_size=40),
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant"]), "content": st.text(max_size=40)}
            ),
            min_size=1,
            max_size=3,
        ),
        "tools": st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=3), max_size=2),
        "response_format": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    }
)


def reordered(value: Any, rng: random.Random) -> Any:
    """The same value with every mapping's keys in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: reordered(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    return value


def reformatted(value: Any, rng: random.Random) -> str:
    """JSON text of `value` with random whitespace and floats in exponent or shortest form."""
    space = rng.choice(["", " ", "\n  "])
    if isinstance(value, float):
        return format(value, ".17e") if rng.random() < 0.5 else repr(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}{space}:{space}{reformatted(v, rng)}" for k, v in value.items())
        return "{" + space + f",{space}".join(items) + space + "}"
    if isinstance(value, list):
        return "[" + space + f",{space}".join(reformatted(v, rng) for v in value) + space + "]"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(request=requests, seed=st.integers())
def test_key_order_whitespace_and_float_formatting_do_not_change_the_key(
    request: dict[str, Any], seed: int
) -> None:
    rng = random.Random(seed)
    same = json.loads(reformatted(reordered(request, rng), rng))
    assert hash_request(same) == hash_request(request)


@settings(max_examples=300, deadline=None)
@given(request=requests, other=requests, field=st.sampled_from(FIELDS))
def test_a_change_in_any_field_changes_the_key(
    request: dict[str, Any], other: dict[str, Any], field: str
) -> None:
    changed = request | {field: other[field]}
    assume(canonical_value(changed[field]) != canonical_value(request[field]))
    assert hash_request(changed) != hash_request(request)


def test_ten_thousand_distinct_requests_never_collide() -> None:
    rng = random.Random(24)
    keys, texts = set(), set()
    for i in range(10_000):
        request = {
            "model": rng.choice(["a", "b"]),
            "temperature": rng.random(),
            "messages": [{"content": f"m{i}"}],
        }
        keys.add(hash_request(request))
        texts.add(json.dumps(canonical_value(request), sort_keys=True))
    collisions = len(texts) - len(keys)
    print(f"cache-key collisions: {collisions} in {len(texts)} distinct requests")
    assert collisions == 0 and len(keys) == 10_000


def test_integral_floats_equal_ints_and_non_finite_floats_are_text() -> None:
    assert hash_request({"t": 1.0}) == hash_request({"t": 1})
    assert hash_request({"t": 0.1}) != hash_request({"t": 0.10000001})
    assert canonical_value({"x": float("inf")}) == {"x": "inf"}


def _conversation(run_id: str, stamp: datetime, call_id: str, prompt: str = "Idea: todo app") -> list[Any]:
    return [
        ModelRequest(parts=[UserPromptPart(prompt, timestamp=stamp)], instructions="Be X.", run_id=run_id),
        ModelResponse(
            parts=[ToolCallPart("final_result", '{"a": 1}', tool_call_id=call_id)], timestamp=stamp
        ),
        ModelRequest(
            parts=[ToolReturnPart("final_result", "fix it", tool_call_id=call_id, timestamp=stamp)],
            run_id=run_id,
        ),
    ]


PARAMS = ModelRequestParameters(
    output_mode="tool",
    output_tools=[ToolDefinition(name="final_result", parameters_json_schema={"type": "object"})],
    allow_text_output=False,
)


def _key(messages: list[Any], *, model: str = "gpt-4.1-mini", settings: dict[str, Any] | None = None) -> str:
    return hash_request(build_request("openai", model, messages, settings or {}, PARAMS))


def test_run_ids_timestamps_and_tool_call_ids_do_not_change_the_key() -> None:
    first = _conversation("run-a", datetime(2026, 1, 1, tzinfo=UTC), "call_xyz")
    second = _conversation("run-b", datetime(2027, 5, 5, tzinfo=UTC), "pyd_ai_123")
    assert _key(first) == _key(second)


def test_prompt_model_schema_and_settings_change_the_key() -> None:
    base = _conversation("r", datetime(2026, 1, 1, tzinfo=UTC), "c")
    assert _key(base) != _key(_conversation("r", datetime(2026, 1, 1, tzinfo=UTC), "c", prompt="Idea: chess"))
    assert _key(base) != _key(base, model="gpt-4.1-nano")
    assert _key(base) != _key(base, settings={"temperature": 0.2})
    # timeouts and retry counts say how to send, not what to ask; headers may hold secrets
    assert _key(base) == _key(base, settings={"timeout": 5, "max_retries": 0, "extra_headers": {"x": "y"}})
    other_schema = ModelRequestParameters(
        output_mode="tool",
        output_tools=[
            ToolDefinition(name="final_result", parameters_json_schema={"type": "object", "required": ["a"]})
        ],
        allow_text_output=False,
    )
    assert _key(base) != hash_request(build_request("openai", "gpt-4.1-mini", base, {}, other_schema))
