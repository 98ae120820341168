"""Prices come from genai-prices; offline is free; an unknown model costs None with one warning."""

from __future__ import annotations

import logging

import pytest

from ideamine_core.providers import pricing


def test_known_models_have_their_listed_price() -> None:
    # gpt-4.1-mini lists $0.40 / $1.60 per million input / output tokens
    assert pricing.cost_usd("openai", "gpt-4.1-mini", 1_000_000, 1_000_000) == pytest.approx(2.0)
    assert pricing.cost_usd("anthropic", "claude-sonnet-4-5", 1000, 500) > 0  # type: ignore[operator]
    assert pricing.cost_usd("offline", "offline-rules", 10**9, 10**9) == 0.0


def test_unknown_model_costs_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ideamine_core.providers.pricing"):
        assert pricing.cost_usd("openai", "my-local-llama-xyz", 100, 100) is None
        assert pricing.cost_usd("openai", "my-local-llama-xyz", 5, 5) is None
    warnings = [r for r in caplog.records if "my-local-llama-xyz" in r.getMessage()]
    assert len(warnings) == 1 and "cost unknown" in warnings[0].getMessage()
    assert not pricing.has_price("openai", "my-local-llama-xyz") and pricing.has_price(
        "openai", "gpt-4.1-mini"
    )


def test_token_estimate_is_a_rough_upper_bound() -> None:
    assert pricing.estimate_tokens("") == 1 and pricing.estimate_tokens("x" * 400) == 100
