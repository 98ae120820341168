"""Up-front model checks: fail at run start, before any call, naming the missing key, provider or server."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import ModelConfigError
from ideamine_core.providers import pricing, request_gate
from ideamine_core.providers.hosted import redact_url, resolve_endpoint
from ideamine_core.providers.model_id import ModelRef, parse_ladder
from ideamine_core.settings import Settings

PROBE_TIMEOUT = 3.0
"""Seconds to wait for a TCP connection to a configured model server."""


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Open (and close) a TCP connection to `url`'s host and port; ModelConfigError if that fails."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise ModelConfigError(
            f"the model base URL {redact_url(url)!r} is not an http(s) URL",
            fix="set IDEAMINE_MODEL_BASE_URL to e.g. http://localhost:11434/v1",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ModelConfigError(
            f"cannot reach the model server at {redact_url(url)} ({reason})",
            fix="start the server (e.g. `ollama serve`) or correct IDEAMINE_MODEL_BASE_URL",
        ) from None


def models_in_use(settings: Settings, configs: Sequence[PhaseConfig]) -> list[ModelRef]:
    """Every model a run may call: the default ladder and every ladder in the phase configs."""
    ids = [settings.model]
    for config in configs:
        ids += [m for agent in config.agent_names for m in config.models_for(agent)]
    return list(dict.fromkeys(ref for model_id in ids for ref in parse_ladder(model_id)))


def check_models(
    settings: Settings,
    configs: Sequence[PhaseConfig],
    *,
    replay: bool = False,
    env: Mapping[str, str] | None = None,
    probe_servers: bool = True,
) -> list[str]:
    """Check every model a run may use before it starts; returns warnings (e.g. a model without price).

    Raises ModelConfigError for an unknown provider or malformed id (listing the known providers), a
    missing API key (naming its variable), an unreachable base URL, or model requests switched off.
    Replay needs no key, server or network.
    """
    env = os.environ if env is None else env
    refs = [r for r in models_in_use(settings, configs) if not r.is_offline]
    warnings: list[str] = []
    probed: set[str] = set()
    for ref in refs:
        endpoint = resolve_endpoint(
            ref, openai_base_url=settings.model_base_url, env=env, require_key=not replay
        )
        if replay:
            continue
        request_gate.check_allowed(ref.provider, endpoint.base_url)
        if probe_servers and endpoint.base_url and endpoint.base_url not in probed:
            probe(endpoint.base_url)
            probed.add(endpoint.base_url)
        if not pricing.has_price(ref.provider, ref.name):
            warnings.append(f"no price is known for {ref}: its calls will be recorded with cost unknown")
    return warnings
