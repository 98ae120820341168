"""Constants and helpers shared by test modules (import as `from support import ...`).

Kept out of conftest.py: test modules importing `conftest` by name break as soon as a sub-folder
has a conftest.py of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ideamine_core.domain.idea import IdeaSubmission

REPO = Path(__file__).resolve().parent.parent
DEMO = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)

PG_URL = os.environ.get("IDEAMINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IDEAMINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(service: str, url: str, error: BaseException) -> None:
    """Fail under CI=true, skip elsewhere, naming the service, the URL and how to enable it."""
    what = f"{service} at {url} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI=true requires it", pytrace=False)
    env = "IDEAMINE_TEST_PG_URL" if service == "PostgreSQL" else "IDEAMINE_TEST_REDIS_URL"
    pytest.skip(f"{what}; start it or point {env} at one to run this test")


# a user's own settings must not reach the runs under test
FOREIGN_ENV = ("IDEAMINE_", "DAGSTER_", "DATABASE_URL", "REDIS_URL")


def ideamine(
    home: Path,
    *args: str,
    config_dir: Path | None = None,
    timeout: float = 240,
    extra_env: dict | None = None,
) -> subprocess.CompletedProcess:
    """`ideamine ARGS` in a new process on `home`, with no terminal and no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env |= {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | (extra_env or {})
    if config_dir:
        env["IDEAMINE_CONFIG_DIR"] = str(config_dir)
    return subprocess.run(
        [sys.executable, "-m", "ideamine_dagster.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
