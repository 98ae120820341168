"""Token cost in USD from genai-prices; an unknown model costs None and a warning, never a crash."""

from __future__ import annotations

import logging
import threading

from genai_prices import Usage, calc_price

from ideamine_core.providers.model_id import OFFLINE

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""Output tokens assumed for a pre-call estimate when no max_tokens is configured."""

_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()


def cost_usd(provider: str, model: str, tokens_in: int, tokens_out: int) -> float | None:
    """The price of `tokens_in` + `tokens_out` on `provider:model`; 0 for offline, None when unknown."""
    if provider == OFFLINE:
        return 0.0
    try:
        price = calc_price(
            Usage(input_tokens=tokens_in, output_tokens=tokens_out), model, provider_id=provider
        )
    except (LookupError, ValueError) as exc:
        _warn_once(provider, model, exc)
        return None
    return round(float(price.total_price), 9)


def has_price(provider: str, model: str) -> bool:
    """True when genai-prices knows `provider:model` (offline is free, so known)."""
    return provider == OFFLINE or cost_usd(provider, model, 0, 0) is not None


def estimate_tokens(text: str) -> int:
    """A rough input-token count for a pre-call estimate: one token per four characters."""
    return max(1, (len(text) + 3) // 4)


def _warn_once(provider: str, model: str, exc: Exception) -> None:
    with _lock:
        if (provider, model) in _warned:
            return
        _warned.add((provider, model))
    log.warning(
        "no price known for %s:%s (%s); its calls are recorded with cost unknown", provider, model, exc
    )
