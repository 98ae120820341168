"""Build the ModelCaller from Settings (and the project Database): the one place the lead wires it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ideamine_core.providers.base import AfterCall, BeforeCall, CallGuard, Provider
from ideamine_core.providers.cache import CacheMode, ResponseCache
from ideamine_core.providers.caller import CallerConfig, ModelCaller, cache_mode_from_env
from ideamine_core.providers.model_id import parse_ladder
from ideamine_core.settings import Settings
from ideamine_core.storage.database import Database, open_database


def default_ladder(settings: Settings) -> tuple[str, ...]:
    """The default ladder: IDEAMINE_MODEL, which may list fallbacks separated by commas."""
    return tuple(str(ref) for ref in parse_ladder(settings.model))


def build_caller(
    settings: Settings,
    db: Database | None = None,
    *,
    cache_mode: CacheMode | str | None = None,
    config: CallerConfig | None = None,
    offline: Provider | None = None,
    before_call: BeforeCall | None = None,
    after_call: AfterCall | None = None,
    guard: CallGuard | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelCaller:
    """The caller for a run: default ladder and base URL from `settings`, prompt overrides looked up in
    `<config_dir>/prompts` first, cache in `db` (default: the project database, opened on first use),
    cache mode from `cache_mode` or IDEAMINE_CACHE_MODE."""
    env = os.environ if env is None else env
    mode = CacheMode(cache_mode) if cache_mode is not None else cache_mode_from_env(env)
    base = config or CallerConfig()
    config = base.model_copy(
        update={
            "models": default_ladder(settings),
            "cache_mode": mode,
            "openai_base_url": settings.model_base_url,
            "request_timeout": settings.model_timeout_seconds,
            "prompt_dirs": (settings.config_dir / "prompts", *base.prompt_dirs),
        }
    )
    cache = ResponseCache(db if db is not None else lambda: _project_db(settings))
    return ModelCaller(
        config,
        cache=cache,
        offline=offline,
        before_call=before_call,
        after_call=after_call,
        guard=guard,
        env=env,
    )


def _project_db(settings: Settings) -> Database:
    """The project database (the embedded SQLite one is migrated on first use)."""
    return open_database(settings.db_url, embedded=settings.embedded_database)
