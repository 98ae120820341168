"""Secret redaction: strip secret values from strings, nested JSON and log records before they are written.

The redactor learns the secrets from the environment (RELIABILITY decision 12): every variable whose
name looks secret (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``, ``IDEAMINE_LEDGER_KEY``,
…) and the passwords inside service URLs (``DATABASE_URL``, ``REDIS_URL``, ``DAGSTER_PG_*``, any
``*_URL``). It also removes well-known key shapes (``sk-…``, ``ghp_…``, ``AKIA…``, bearer tokens,
PEM private keys) and URL passwords it was not told about. The ledger, the event sinks and the
logging filter all call it before anything reaches storage.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import threading
import traceback
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "[REDACTED]"

SECRET_NAME_PATTERNS = (
    "*_API_KEY",
    "*_APIKEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_KEY",
    "*_ACCESS_KEY",
    "*_PRIVATE_KEY",
    "*PASSWORD*",
    "*PASSWD*",
    "*_CREDENTIALS",
    "IDEAMINE_LEDGER_KEY",
    "IDEAMINE_LEDGER_*KEY",
)
"""Environment variable names (globs, upper case) whose whole value is a secret."""

URL_NAME_PATTERNS = ("DATABASE_URL", "REDIS_URL", "DAGSTER_PG_*", "*_URL", "*_DSN", "*_URI")
"""Environment variable names whose value may embed a password (``scheme://user:password@host``)."""

SECRET_KEY_NAMES = re.compile(
    r"(api[_-]?key|apikey|password|passwd|secret|token|authorization|private[_-]?key|credentials?)$",
    re.IGNORECASE,
)
"""JSON object keys whose string value is dropped whole, whatever it looks like."""

KEY_SHAPES = re.compile(
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
)
"""Shapes of credentials worth removing even when they are not in this environment."""

URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?=@)")
"""The password part of ``scheme://user:password@host``."""

MIN_SUBSTRING_LENGTH = 12
"""Secrets at least this long are removed wherever they occur; shorter ones only as whole words."""

MIN_SECRET_LENGTH = 4
"""Shorter values (``x``, ``123``) cannot be removed without destroying ordinary text."""


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p) for p in patterns)


def url_password(url: str) -> str | None:
    """The password inside a URL, or None."""
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        return None
    return password or None


def secrets_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Secret value → the name of the variable it came from (URL passwords included, raw and decoded)."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if not value:
            continue
        if _matches(name, SECRET_NAME_PATTERNS):
            found.setdefault(value.strip() or value, name)
        if _matches(name, URL_NAME_PATTERNS) or "://" in value:
            password = url_password(value)
            if password:
                found.setdefault(password, name)
                found.setdefault(unquote(password), name)
    return {v: n for v, n in found.items() if len(v) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces known secret values and credential shapes with ``[REDACTED:<VARIABLE>]``/``[REDACTED]``."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        """`secrets` maps each secret value to a label (usually the environment variable's name)."""
        self.secrets = dict(secrets or {})
        self._pattern = self._compile(self.secrets)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for the secrets of `env` (default: the process environment)."""
        return cls(secrets_from_env(os.environ if env is None else env))

    @staticmethod
    def _compile(secrets: Mapping[str, str]) -> re.Pattern[str] | None:
        if not secrets:
            return None
        parts = []
        for value in sorted(secrets, key=len, reverse=True):
            escaped = re.escape(value)
            if len(value) < MIN_SUBSTRING_LENGTH:
                escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
            parts.append(escaped)
        return re.compile("|".join(parts))

    def redact(self, text: str) -> str:
        """`text` without any known secret, credential shape or URL password."""
        if len(text) < MIN_SECRET_LENGTH:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: f"[REDACTED:{self.secrets.get(m.group(0), '')}]", text)
        text = KEY_SHAPES.sub(REDACTED, text)
        if "://" in text:
            text = URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted and secret-named keys dropped."""
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {
                self.redact(str(k)): (
                    REDACTED
                    if isinstance(v, str) and v and SECRET_KEY_NAMES.search(str(k))
                    else self.redact_value(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


_NAME_RE = re.compile(
    "|".join(fnmatch.translate(p) for p in SECRET_NAME_PATTERNS + URL_NAME_PATTERNS), re.IGNORECASE
)
_cache: tuple[dict[Any, Any], Redactor] | None = None
_cache_lock = threading.Lock()


def default_redactor() -> Redactor:
    """The redactor for the current process environment (rebuilt when the environment changes)."""
    global _cache
    # os.environ's raw mapping compares in C; decoding every variable on each call costs more than a write
    raw = getattr(os.environ, "_data", None)
    snapshot = dict(raw) if isinstance(raw, dict) else dict(os.environ)
    cached = _cache
    if cached is not None and cached[0] == snapshot:
        return cached[1]
    relevant = {k: v for k, v in os.environ.items() if _NAME_RE.match(k) or "://" in v}
    with _cache_lock:
        _cache = (snapshot, Redactor(secrets_from_env(relevant)))
        return _cache[1]


def redact(value: Any) -> Any:
    """Redact a string or JSON-like value with the process environment's redactor."""
    return default_redactor().redact_value(value)


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record (message, arguments, traceback) and redacts it."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        """Use `redactor`, or the process environment's redactor at each record."""
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite `record` in place; never drops a record."""
        redact_record(record, self.redactor or default_redactor())
        return True


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Render and redact a log record in place (message, traceback and stack become plain text)."""
    # a record is redacted once per redactor: the record factory's default one does not know the
    # secrets an explicitly configured filter was given
    if getattr(record, "_ideamine_redacted", None) == id(redactor):
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must not hide the record
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = redactor.redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redactor.redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    record._ideamine_redacted = id(redactor)  # an int: extras may be rendered by formatters


_factory_installed = False


def install_log_redaction(*loggers: logging.Logger) -> None:
    """Redact every log record of this process at creation, and add a RedactingFilter to `loggers`' handlers.

    The record factory covers every logger (ours, Dagster's, libraries'); the handler filters also
    cover records built by hand and handed to a handler directly. Idempotent.
    """
    global _factory_installed
    if not _factory_installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record, default_redactor())
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    for logger in loggers or (logging.getLogger(),):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
