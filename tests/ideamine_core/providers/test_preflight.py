"""Up-front model checks fail before any call, naming the missing key, the known providers or the server.

Also: endpoints keep keys out of their repr, a local OpenAI-compatible server needs no key, replay
needs neither key nor server, and a model without a price only warns.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ideamine_core.domain.phase import AgentRef, PhaseConfig
from ideamine_core.errors import ModelConfigError, ModelRequestsDisabledError
from ideamine_core.providers.hosted import NO_KEY, redact_url, resolve_endpoint
from ideamine_core.providers.model_id import ModelRef
from ideamine_core.providers.preflight import check_models, models_in_use
from ideamine_core.settings import Settings

KEY = "sk-preflight-canary-0123456789"


def _settings(tmp_path: Path, model: str, base_url: str | None = None) -> Settings:
    return Settings(home=tmp_path, config_dir=tmp_path, model=model, model_base_url=base_url)


def _phase(*refs: AgentRef, models: list[str] | None = None) -> PhaseConfig:
    return PhaseConfig(phase="intake", agents=list(refs), models=models or [])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("model", "env", "words"),
    [
        ("openai:gpt-4.1-mini", {}, ["OPENAI_API_KEY is not set"]),  # hosted OpenAI without key
        ("anthropic:claude-sonnet-4-5", {"OPENAI_API_KEY": KEY}, ["ANTHROPIC_API_KEY"]),  # wrong key set
        ("mistral:large", {}, ["unknown provider 'mistral'", "offline, openai, anthropic"]),  # unknown prefix
        ("gpt-4.1-mini", {}, ["no provider prefix"]),  # prefix forgotten
    ],
)
def test_bad_model_settings_fail_up_front(
    tmp_path: Path, model: str, env: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(ModelConfigError) as info:
        check_models(_settings(tmp_path, model), [], env=env)
    for word in words:
        assert word in info.value.explain()
    assert KEY not in info.value.explain()


def test_phase_ladders_are_checked_too(tmp_path: Path) -> None:
    phase = _phase(AgentRef(name="Classifier", models=["offline", "anthropic:claude-sonnet-4-5"]))
    assert [str(r) for r in models_in_use(_settings(tmp_path, "offline"), [phase])] == [
        "offline",
        "anthropic:claude-sonnet-4-5",
    ]
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY"):
        check_models(_settings(tmp_path, "offline"), [phase], env={})


def test_an_unreachable_base_url_is_named_without_its_password(
    tmp_path: Path, allow_local_model_requests: None
) -> None:
    url = f"http://user:hunter2@127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(ModelConfigError) as info:
        check_models(_settings(tmp_path, "openai:llama3.1", url), [], env={})
    text = info.value.explain()
    assert "cannot reach the model server at http://127.0.0.1:" in text and "IDEAMINE_MODEL_BASE_URL" in text
    assert "hunter2" not in text


def test_a_reachable_local_server_needs_no_key_and_an_unpriced_model_only_warns(
    tmp_path: Path, allow_local_model_requests: None
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
        warnings = check_models(_settings(tmp_path, "openai:llama3.1-local", url), [], env={})
    assert warnings == [
        "no price is known for openai:llama3.1-local: its calls will be recorded with cost unknown"
    ]


def test_switched_off_requests_fail_up_front_unless_replaying(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "openai:gpt-4.1-mini")
    with pytest.raises(ModelRequestsDisabledError):
        check_models(settings, [], env={"OPENAI_API_KEY": KEY})
    assert check_models(settings, [], env={}, replay=True) == []  # replay: no key, no server, no network


def test_endpoints_hide_keys() -> None:
    endpoint = resolve_endpoint(ModelRef("openai", "gpt-4.1-mini"), env={"OPENAI_API_KEY": KEY})
    assert KEY not in repr(endpoint) and endpoint.secrets == (KEY,)
    local = resolve_endpoint(ModelRef("openai", "llama3.1"), openai_base_url="http://127.0.0.1:1/v1", env={})
    assert local.api_key == NO_KEY and local.secrets == ()
    anthropic = resolve_endpoint(
        ModelRef("anthropic", "claude-sonnet-4-5"),
        env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "http://127.0.0.1:2"},
    )
    assert anthropic.base_url == "http://127.0.0.1:2"


def test_redact_url() -> None:
    assert redact_url("https://me:secret@host.example:8443/v1?x=1") == "https://host.example:8443/v1?x=1"
