"""Redaction: secrets known from the environment and credential shapes never survive `redact`.

Contract: values of secret-named variables and passwords inside service URLs are replaced (named by
their variable); short secrets only as whole words; key shapes and URL passwords are removed even when
unknown; nested JSON is walked and secret-named keys dropped; log records (message, arguments,
traceback) are redacted by the filter and by the record factory.
"""

from __future__ import annotations

import logging

import pytest

from ideamine_core.redaction import (
    REDACTED,
    RedactingFilter,
    Redactor,
    install_log_redaction,
    secrets_from_env,
)

ENV = {
    "OPENAI_API_KEY": "sk-proj-canaryAAAAAAAAAAAAAAAA",
    "GITHUB_TOKEN": "canary-gh-token-1234567890",
    "DB_PASSWORD": "hunter22",
    "IDEAMINE_LEDGER_KEY": "canary-ledger-key-abcdef",
    "DATABASE_URL": "postgresql://app:canary%40pw-9876@db:5432/x",
    "REDIS_URL": "redis://:canary-redis-pw-5555@cache:6379/0",
    "DAGSTER_PG_PASSWORD": "canary-dagster-pw-4444",
    "HOME": "/root",
    "SHORT_TOKEN": "abc",
}


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("key=sk-proj-canaryAAAAAAAAAAAAAAAA!", "sk-proj-canary"),  # an API key from the environment
        ("auth canary-gh-token-1234567890", "canary-gh-token"),  # a *_TOKEN value
        ("password hunter22.", "hunter22"),  # a short secret, as a whole word
        ("signing with canary-ledger-key-abcdef", "canary-ledger-key"),  # the ledger key
        ("dsn postgresql://app:canary%40pw-9876@db/x", "canary%40pw"),  # URL password, encoded
        ("decoded canary@pw-9876 leaked", "canary@pw-9876"),  # URL password, decoded
        ("redis://:canary-redis-pw-5555@cache", "canary-redis-pw"),  # Redis URL password
        ("pg canary-dagster-pw-4444", "canary-dagster-pw"),  # DAGSTER_PG_* password
        ("unknown sk-ant-api03-ZZZZZZZZZZZZZZZZZZZZ", "sk-ant-api03"),  # a key shape not in the env
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),  # bearer token
        ("mysql://root:s3cr3t@host/db", "s3cr3t"),  # an unknown URL password
    ],
)
def test_secrets_are_removed_from_text(text: str, gone: str) -> None:
    out = Redactor.from_env(ENV).redact(text)
    assert gone not in out and "REDACTED" in out


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor.from_env(ENV)
    text = "hunter22x is a word; /root stays; abc stays; postgresql+psycopg is fine"
    assert redactor.redact(text) == text
    assert "abc" not in secrets_from_env(ENV) and "/root" not in secrets_from_env(ENV)


def test_nested_json_is_walked_and_secret_keys_dropped() -> None:
    value = {
        "error": ["401", {"detail": "bad key sk-proj-canaryAAAAAAAAAAAAAAAA"}],
        "api_key": "whatever-it-is",
        "tokens_in": 12,
        "canary-gh-token-1234567890": True,
    }
    out = Redactor.from_env(ENV).redact_value(value)
    assert out["api_key"] == REDACTED and out["tokens_in"] == 12
    assert "canary" not in repr(out)
    assert "[REDACTED:OPENAI_API_KEY]" in out["error"][1]["detail"]


def test_logging_filter_redacts_message_arguments_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("ideamine.test.redaction")
    handler = caplog.handler
    handler.addFilter(RedactingFilter(Redactor.from_env(ENV)))
    try:
        try:
            raise RuntimeError("request failed with canary-gh-token-1234567890")
        except RuntimeError:
            logger.exception("call with %s", "sk-proj-canaryAAAAAAAAAAAAAAAA")
    finally:
        handler.filters.clear()
    assert "canary" not in caplog.text and "[REDACTED:GITHUB_TOKEN]" in caplog.text


def test_a_filter_with_its_own_secrets_redacts_records_the_factory_redacted_first(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the process-wide factory (installed by any in-process run) redacts with the environment's secrets;
    # a filter given other secrets must still apply them
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr("ideamine_core.redaction._factory_installed", False)
    caplog.handler.addFilter(RedactingFilter(Redactor.from_env(ENV)))
    try:
        install_log_redaction()
        try:
            raise RuntimeError("request failed with canary-gh-token-1234567890")
        except RuntimeError:
            logging.getLogger("ideamine.test.redaction").exception("call failed")
    finally:
        logging.setLogRecordFactory(previous)
        caplog.handler.filters.clear()
    assert "canary" not in caplog.text and "[REDACTED:GITHUB_TOKEN]" in caplog.text


def test_installed_record_factory_redacts_every_logger(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    previous = logging.getLogRecordFactory()
    monkeypatch.setenv("ACME_SECRET", "canary-acme-secret-3141")
    monkeypatch.setattr("ideamine_core.redaction._factory_installed", False)
    try:
        install_log_redaction()
        logging.getLogger("some.library").warning("connecting with canary-acme-secret-3141")
    finally:
        logging.setLogRecordFactory(previous)
    assert "canary-acme" not in caplog.text and "[REDACTED:ACME_SECRET]" in caplog.text
