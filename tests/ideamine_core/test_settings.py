"""Settings.from_env: the embedded defaults when the environment says nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import REPO

from ideamine_core.settings import Settings

FOREIGN = ("IDEAMINE_", "DAGSTER_")
SERVICES = ("DATABASE_URL", "REDIS_URL")


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No IDEAMINE_*, DAGSTER_*, DATABASE_URL or REDIS_URL variable, and a fresh working directory."""
    for name in list(os.environ):
        if name.startswith(FOREIGN) or name in SERVICES:
            monkeypatch.delenv(name)
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd.resolve()


def _assert_embedded_defaults(settings: Settings, cwd: Path) -> None:
    assert settings.home == cwd / ".ideamine" == Path.cwd() / ".ideamine"
    assert settings.model == "offline"
    assert settings.config_dir == REPO / "phase_configs"
    assert settings.model_base_url is None and settings.database_url is None and settings.redis_url is None
    assert settings.retention_days == 30
    assert settings.embedded_database and settings.db_url == f"sqlite:///{cwd / '.ideamine' / 'ideamine.db'}"
    assert settings.runs_dir == cwd / ".ideamine" / "runs"
    assert settings.dagster_home == cwd / ".ideamine" / "dagster"


def test_from_env_with_no_environment_uses_the_embedded_defaults(bare_env: Path) -> None:
    assert not any(k.startswith(FOREIGN) or k in SERVICES for k in os.environ)
    settings = Settings.from_env()
    _assert_embedded_defaults(settings, bare_env)
    assert not (bare_env / ".ideamine").exists()  # reading settings writes nothing
    assert Settings.from_env({}) == settings


def test_empty_variables_count_as_unset(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("IDEAMINE_HOME", "IDEAMINE_CONFIG_DIR", "IDEAMINE_MODEL", "IDEAMINE_RETENTION_DAYS", "REDIS_URL")
    for name in (*names, "DATABASE_URL", "IDEAMINE_MODEL_BASE_URL"):
        monkeypatch.setenv(name, "")
    _assert_embedded_defaults(Settings.from_env(), bare_env)


def test_the_model_timeout_reaches_the_caller(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ideamine_core.errors import UserInputError
    from ideamine_core.providers.factory import build_caller

    assert Settings.from_env().model_timeout_seconds == 300
    monkeypatch.setenv("IDEAMINE_MODEL_TIMEOUT", "2.5")
    settings = Settings.from_env()
    assert settings.model_timeout_seconds == 2.5 and settings.as_env()["IDEAMINE_MODEL_TIMEOUT"] == "2.5"
    assert build_caller(settings, db=object()).config.request_timeout == 2.5  # type: ignore[arg-type]
    for bad in ("0", "soon"):
        monkeypatch.setenv("IDEAMINE_MODEL_TIMEOUT", bad)
        with pytest.raises(UserInputError, match="IDEAMINE_MODEL_TIMEOUT"):
            Settings.from_env()
