"""OpenAI-compatible and Anthropic models through pydantic-ai slim, with the SDKs' own retries off.

Keys are read from the environment when a model is opened and live only in the SDK client; the
endpoint's `repr` hides them. `openai:<name>` speaks chat completions, so it also reaches
OpenAI-compatible servers (Ollama, vLLM, LM Studio) given a base URL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx2
from pydantic_ai.models import Model

from ideamine_core.errors import ModelConfigError
from ideamine_core.providers.model_id import API_KEY_ENV, ModelRef

NO_KEY = "no-key-needed"
"""Placeholder key for servers that need none (local OpenAI-compatible ones, replay)."""

ANTHROPIC_BASE_URL_ENV = "ANTHROPIC_BASE_URL"


def redact_url(url: str) -> str:
    """`url` without its user and password, safe to show and store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@dataclass(frozen=True)
class Endpoint:
    """Where a provider is reached and with which key (never shown in repr)."""

    provider: str
    base_url: str | None
    api_key: str = field(repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in errors, logs or records."""
        return (self.api_key,) if self.api_key != NO_KEY else ()


def resolve_endpoint(
    ref: ModelRef,
    *,
    openai_base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    require_key: bool = True,
) -> Endpoint:
    """The endpoint of `ref`; ModelConfigError naming the missing environment variable."""
    env = os.environ if env is None else env
    key_var = API_KEY_ENV[ref.provider]
    key = (env.get(key_var) or "").strip()
    base_url = openai_base_url if ref.provider == "openai" else env.get(ANTHROPIC_BASE_URL_ENV) or None
    if not key and require_key and not (ref.provider == "openai" and base_url):
        raise ModelConfigError(
            f"model {ref} needs an API key, but {key_var} is not set",
            fix=f"export {key_var}=… (or use IDEAMINE_MODEL=offline)",
        )
    return Endpoint(ref.provider, base_url, key or NO_KEY)


@asynccontextmanager
async def open_model(ref: ModelRef, endpoint: Endpoint, *, timeout: float = 300.0) -> AsyncIterator[Model]:
    """A pydantic-ai model for `ref` on its own HTTP client (closed on exit), SDK retries disabled."""
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)))
    try:
        yield _build(ref, endpoint, http)
    finally:
        await http.aclose()


def _build(ref: ModelRef, endpoint: Endpoint, http: httpx2.AsyncClient) -> Model:
    if ref.provider == "openai":
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        client = AsyncOpenAI(
            api_key=endpoint.api_key, base_url=endpoint.base_url, max_retries=0, http_client=http
        )
        return OpenAIChatModel(ref.name, provider=OpenAIProvider(openai_client=client))
    if ref.provider == "anthropic":
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        client = AsyncAnthropic(
            api_key=endpoint.api_key, base_url=endpoint.base_url, max_retries=0, http_client=http
        )
        return AnthropicModel(ref.name, provider=AnthropicProvider(anthropic_client=client))
    raise ModelConfigError(f"{ref} is not a hosted model", fix="use an openai: or anthropic: model id")
