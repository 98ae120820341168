"""The request switch: the suite runs with real-provider requests off; `local` allows only loopback."""

from __future__ import annotations

import pytest

from ideamine_core.errors import ModelRequestsDisabledError
from ideamine_core.providers import request_gate
from ideamine_core.providers.request_gate import Allow, allow_model_requests, check_allowed, is_loopback


def test_the_suite_runs_with_model_requests_off() -> None:
    assert request_gate.current() is Allow.NONE
    with pytest.raises(ModelRequestsDisabledError) as info:
        check_allowed("openai", None)
    assert "IDEAMINE_ALLOW_MODEL_REQUESTS" in info.value.explain()


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),  # IPv4 loopback
        ("http://127.9.9.9/v1", True),  # the whole 127/8 block
        ("http://[::1]:11434/v1", True),  # IPv6 loopback
        ("http://localhost:1234", True),  # by name
        ("https://api.openai.com/v1", False),  # the real thing
        ("http://10.0.0.5/v1", False),  # another machine
        (None, False),  # the provider's default endpoint
    ],
)
def test_local_allows_only_loopback(url: str | None, local: bool) -> None:
    assert is_loopback(url) is local
    with allow_model_requests("local"):
        if local:
            check_allowed("openai", url)
        else:
            with pytest.raises(ModelRequestsDisabledError):
                check_allowed("openai", url)


def test_environment_applies_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_gate, "ALLOW_MODEL_REQUESTS", None)
    for raw, allow in [("0", Allow.NONE), ("local", Allow.LOCAL), ("yes", Allow.ALL), ("", Allow.ALL)]:
        monkeypatch.setenv(request_gate.ENV_VAR, raw)
        assert request_gate.current() is allow


def test_the_override_also_sets_pydantic_ais_switch() -> None:
    import pydantic_ai.models as pai_models

    with allow_model_requests("all"):
        assert pai_models.ALLOW_MODEL_REQUESTS is True
        check_allowed("anthropic", None)
    assert pai_models.ALLOW_MODEL_REQUESTS is False
