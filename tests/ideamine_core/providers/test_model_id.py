"""Model ids parse as 'provider:model' or 'offline'; every mistake names the known providers or the form."""

from __future__ import annotations

from pathlib import Path

import pytest

from ideamine_core.config.loader import load_phase_file
from ideamine_core.errors import ConfigError, ModelConfigError
from ideamine_core.providers.model_id import ModelRef, parse_ladder, parse_model_id


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("offline", ModelRef("offline", "offline-rules")),  # the embedded default
        ("openai:gpt-4.1-mini", ModelRef("openai", "gpt-4.1-mini")),  # hosted OpenAI
        ("anthropic:claude-sonnet-4-5", ModelRef("anthropic", "claude-sonnet-4-5")),  # hosted Anthropic
        ("openai:llama3.1:8b", ModelRef("openai", "llama3.1:8b")),  # Ollama tags keep their colon
        ("  openai : gpt-4.1  ", ModelRef("openai", "gpt-4.1")),  # spaces around the parts
    ],
)
def test_valid_ids(text: str, ref: ModelRef) -> None:
    assert parse_model_id(text) == ref
    assert str(ref) == ("offline" if ref.is_offline else f"{ref.provider}:{ref.name}")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gemini:pro", ["unknown provider 'gemini'", "offline, openai, anthropic"]),  # unknown prefix
        ("gpt-4.1-mini", ["no provider prefix", "openai:gpt-4.1-mini"]),  # prefix forgotten
        ("openai:", ["no model name"]),  # name forgotten
        ("offline:fancy", ["no model name"]),  # offline has no model choice
    ],
)
def test_invalid_ids_say_what_is_wrong(text: str, words: list[str]) -> None:
    with pytest.raises(ModelConfigError) as info:
        parse_model_id(text)
    for word in words:
        assert word in info.value.explain()


def test_ladders_keep_order_and_drop_duplicates() -> None:
    assert parse_ladder("openai:a, anthropic:b,openai:a,offline") == [
        ModelRef("openai", "a"),
        ModelRef("anthropic", "b"),
        ModelRef("offline", "offline-rules"),
    ]
    with pytest.raises(ModelConfigError):
        parse_ladder(" , ")


def test_phase_files_name_the_field_of_a_bad_model_id(tmp_path: Path) -> None:
    path = tmp_path / "intake.yaml"
    path.write_text(
        "phase: intake\nmodels: [openai:gpt-4.1-mini, offline]\n"
        "agents:\n  - name: Classifier\n  - name: Expander\n    models: [offline, gemini:pro]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_phase_file(path)
    assert (
        info.value.field == "agents[1].models[1]"
        and "known providers: offline, openai, anthropic" in info.value.explain()
    )
    path.write_text(path.read_text().replace("gemini:pro", "anthropic:claude-sonnet-4-5"))
    config = load_phase_file(path)
    assert config.models_for("Classifier") == ["openai:gpt-4.1-mini", "offline"]
    assert config.models_for("Expander") == ["offline", "anthropic:claude-sonnet-4-5"]
