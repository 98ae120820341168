"""Settings in the job origin without passwords: Dagster stores the origin in its run storage and UI.

The pipeline job is rebuilt in each step process from its reconstructable arguments, which Dagster
keeps with every run. Those arguments carry the settings with the passwords of DATABASE_URL and
REDIS_URL masked; a step gets them back from this process (threads, in-process executor) or from
the environment it inherited (step processes), never from the stored origin.
"""

from __future__ import annotations

import json
import os
import threading

from ideamine_core.errors import UserInputError
from ideamine_core.redaction import url_password
from ideamine_core.settings import Settings
from ideamine_core.storage.database import redact_url

SECRET_URLS = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}
"""Settings fields whose URL may hold a password → the environment variable a step may read it from."""

_known: dict[str, str] = {}
_lock = threading.Lock()


def public_settings_json(settings: Settings) -> str:
    """`settings` as JSON with URL passwords masked; this process remembers the full URLs."""
    data = json.loads(settings.model_dump_json())
    for field in SECRET_URLS:
        url = data.get(field)
        if url and url_password(url):
            data[field] = redact_url(url)
            with _lock:
                _known[data[field]] = url
    return json.dumps(data, sort_keys=True)


def private_settings(settings_json: str) -> Settings:
    """Settings from `public_settings_json`, each masked URL restored from this process or the environment."""
    data = json.loads(settings_json)
    for field, env_name in SECRET_URLS.items():
        masked = data.get(field)
        if masked and ":***@" in masked:
            data[field] = _restore(masked, env_name)
    return Settings.model_validate(data)


def _restore(masked: str, env_name: str) -> str:
    with _lock:
        known = _known.get(masked)
    if known is not None:
        return known
    env = os.environ.get(env_name)
    if env and redact_url(env) == masked:
        return env
    raise UserInputError(
        f"this step process cannot get the password of {masked}",
        fix=f"set {env_name} in the environment of the process that launches runs",
    )
