"""Request hashing: a canonical form of one model request (model, messages, output schema, settings).

The hash keys the response cache, so it must change with anything that changes what the provider is
asked, and with nothing else: not the run id, timestamps, random tool-call ids, usage of earlier
responses, timeouts, retry counts or headers (which may carry secrets). JSON key order, whitespace and
float formatting do not matter (1.0 and 1 hash alike).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

KEY_VERSION = 1
"""Bumped whenever the canonical form changes, so old cache rows are not mistaken for new ones."""

VOLATILE_KEYS = frozenset(
    {
        "timestamp",
        "run_id",
        "conversation_id",
        "usage",
        "model_name",
        "model_id",
        "provider_name",
        "provider_url",
        "provider_details",
        "provider_response_id",
        "finish_reason",
        "failed_attempts",
        "history_digest",
        "state",
        "workspace_ref",
        "canonical_system",
        "metadata",
        "id",
        "content_file_digests",
        "retry",
    }
)
"""Message fields that record what happened, not what is asked; dropped from the canonical form."""

UNHASHED_SETTINGS = frozenset(
    {"timeout", "request_timeout", "first_event_timeout", "max_retries", "extra_headers"}
)
"""Settings that change how a request is sent, not what it asks (extra_headers may carry secrets)."""


def canonical_value(value: Any) -> Any:
    """A JSON value with sorted keys and integral floats as ints (so 1.0 == 1); NaN/inf as strings."""
    if isinstance(value, Mapping):
        return {str(k): canonical_value(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON of the canonical value: the exact text that is hashed."""
    return json.dumps(canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_request(request: Mapping[str, Any]) -> str:
    """sha256 of a request's canonical JSON, as 'sha256:<hex>'."""
    return "sha256:" + hashlib.sha256(canonical_json(request).encode()).hexdigest()


def _strip(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in VOLATILE_KEYS:
                continue
            if key == "tool_call_id" and isinstance(item, str):
                item = ids.setdefault(item, f"call_{len(ids)}")
            elif key == "args" and isinstance(item, str):
                item = _json_or_text(item)
            out[key] = _strip(item, ids)
        return out
    if isinstance(value, list):
        return [_strip(v, ids) for v in value]
    return value


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def canonical_messages(messages: Sequence[ModelMessage]) -> list[Any]:
    """The conversation without volatile fields, tool-call ids renumbered in order of appearance."""
    dumped = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
    return _strip(dumped, {})


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters_json_schema,
        "strict": tool.strict,
        "kind": tool.kind,
    }


def canonical_parameters(params: ModelRequestParameters) -> dict[str, Any]:
    """The output schema and tools the request declares."""
    output_object = params.output_object
    return {
        "output_mode": params.output_mode,
        "output_tools": [_tool(t) for t in params.output_tools],
        "function_tools": [_tool(t) for t in params.function_tools],
        "output_object": None
        if output_object is None
        else {
            "name": output_object.name,
            "description": output_object.description,
            "schema": output_object.json_schema,
            "strict": output_object.strict,
        },
        "allow_text_output": params.allow_text_output,
        "prompted_output_template": params.prompted_output_template,
    }


def canonical_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings that change what the model is asked (temperature, seed, max_tokens, ...)."""
    return {k: v for k, v in (settings or {}).items() if k not in UNHASHED_SETTINGS}


def build_request(
    provider: str,
    model: str,
    messages: Sequence[ModelMessage],
    settings: Mapping[str, Any] | None,
    params: ModelRequestParameters,
) -> dict[str, Any]:
    """The canonical request: what the cache stores and the hash is taken over (no credentials)."""
    return canonical_value(
        {
            "v": KEY_VERSION,
            "provider": provider,
            "model": model,
            "messages": canonical_messages(messages),
            "output": canonical_parameters(params),
            "settings": canonical_settings(settings),
        }
    )
