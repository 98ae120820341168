"""The switch that keeps tests (and anyone who asks) from calling a real model provider by accident.

`IDEAMINE_ALLOW_MODEL_REQUESTS` (read at each request) or the module override `ALLOW_MODEL_REQUESTS`
says which real-provider requests may be sent: ``all`` (the default), ``local`` (only servers on
a loopback address, for tests with a local fake server) or ``none``. The `offline` model and cache
hits never need it. The override wins over the environment, like pydantic-ai's own switch.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from urllib.parse import urlsplit

from ideamine_core.errors import ModelRequestsDisabledError

ENV_VAR = "IDEAMINE_ALLOW_MODEL_REQUESTS"


class Allow(StrEnum):
    """Which real-provider requests may be sent."""

    ALL = "all"
    LOCAL = "local"
    NONE = "none"


ALLOW_MODEL_REQUESTS: Allow | None = None
"""Process-wide override of the environment variable; None means: read the environment."""

_WORDS = {"1": Allow.ALL, "true": Allow.ALL, "yes": Allow.ALL, "all": Allow.ALL, "local": Allow.LOCAL}
_WORDS |= {"0": Allow.NONE, "false": Allow.NONE, "no": Allow.NONE, "none": Allow.NONE}


def current() -> Allow:
    """The switch in force: the module override, else the environment, else ALL."""
    if ALLOW_MODEL_REQUESTS is not None:
        return ALLOW_MODEL_REQUESTS
    raw = os.environ.get(ENV_VAR, "").strip().lower()
    return _WORDS.get(raw, Allow.ALL) if raw else Allow.ALL


def is_loopback(url: str | None) -> bool:
    """True when `url` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname if url else None
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_allowed(provider: str, base_url: str | None) -> None:
    """Raise ModelRequestsDisabledError unless a request to `provider` at `base_url` is allowed now."""
    allow = current()
    if allow is Allow.ALL or (allow is Allow.LOCAL and is_loopback(base_url)):
        return
    where = "a non-local server" if allow is Allow.LOCAL else "any provider"
    raise ModelRequestsDisabledError(
        f"a request to {provider} was blocked: model requests to {where} are disabled ({ENV_VAR}={allow})",
        fix=f"set {ENV_VAR}=all to allow real model calls, or use the offline model",
    )


@contextmanager
def allow_model_requests(allow: Allow | str) -> Iterator[None]:
    """Temporarily set the module override (also pydantic-ai's own switch), restoring it after."""
    global ALLOW_MODEL_REQUESTS
    import pydantic_ai.models as pai_models

    old, old_pai = ALLOW_MODEL_REQUESTS, pai_models.ALLOW_MODEL_REQUESTS
    ALLOW_MODEL_REQUESTS = Allow(allow)
    pai_models.ALLOW_MODEL_REQUESTS = ALLOW_MODEL_REQUESTS is not Allow.NONE
    try:
        yield
    finally:
        ALLOW_MODEL_REQUESTS, pai_models.ALLOW_MODEL_REQUESTS = old, old_pai
