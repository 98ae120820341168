"""Model ids: parse 'provider:model' (or 'offline') into a ModelRef, naming the known providers on error."""

from __future__ import annotations

from dataclasses import dataclass

from ideamine_core.errors import ModelConfigError

OFFLINE = "offline"
OFFLINE_MODEL = "offline-rules"
KNOWN_PROVIDERS: tuple[str, ...] = (OFFLINE, "openai", "anthropic")
"""Providers IdeaMine can call; `openai` also covers OpenAI-compatible servers via a base URL."""

API_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
"""The environment variable holding each hosted provider's API key."""

EXAMPLES = "openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5, openai:llama3.1 (with a base URL) or offline"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model id: the provider and the provider's own model name."""

    provider: str
    name: str

    @property
    def is_offline(self) -> bool:
        """True for the deterministic rule-based `offline` model."""
        return self.provider == OFFLINE

    def __str__(self) -> str:
        return OFFLINE if self.is_offline else f"{self.provider}:{self.name}"


def parse_model_id(text: str) -> ModelRef:
    """Parse 'provider:model' or 'offline'; ModelConfigError naming the problem and the known providers."""
    value = text.strip()
    if value in (OFFLINE, f"{OFFLINE}:{OFFLINE_MODEL}"):
        return ModelRef(OFFLINE, OFFLINE_MODEL)
    known = ", ".join(KNOWN_PROVIDERS)
    if ":" not in value:
        raise ModelConfigError(
            f"model id {value!r} has no provider prefix (known providers: {known})",
            fix=f"write 'provider:model', e.g. {EXAMPLES}",
        )
    provider, name = (part.strip() for part in value.split(":", 1))
    if provider not in KNOWN_PROVIDERS:
        raise ModelConfigError(
            f"model id {value!r} names the unknown provider {provider!r}; known providers: {known}",
            fix=f"use one of the known providers, e.g. {EXAMPLES}",
        )
    if not name or provider == OFFLINE:
        raise ModelConfigError(
            f"model id {value!r} has no model name after '{provider}:'",
            fix=f"write 'provider:model', e.g. {EXAMPLES}",
        )
    return ModelRef(provider, name)


def parse_ladder(text: str) -> list[ModelRef]:
    """A comma-separated list of model ids (a fallback ladder), in order; duplicates are dropped."""
    refs = [parse_model_id(part) for part in text.split(",") if part.strip()]
    if not refs:
        raise ModelConfigError("no model given", fix=f"set a model id, e.g. {EXAMPLES}")
    return list(dict.fromkeys(refs))
