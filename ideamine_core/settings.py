"""Environment → typed Settings with embedded defaults (read when called, never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.errors import UserInputError

DEFAULT_HOME = ".ideamine"


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or ""
    try:
        return float(text) if text.strip() else default
    except ValueError:
        raise UserInputError(
            f"{name}={text!r} is not a number", fix=f"set {name} to a number such as {default:g}, or unset it"
        ) from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value <= 0:
        raise UserInputError(f"{name}={value:g} must be more than 0", fix=f"set {name} to e.g. {default:g}")
    return value


def _default_config_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "phase_configs"


class Settings(BaseModel):
    """Where IdeaMine keeps its state, which services it uses and which model it calls.

    Secrets (API keys, the ledger signing key) are not settings: they are read from the
    environment by the component that needs them, at the moment it needs them, and never stored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(description="Home folder: runs, artifacts, embedded database and Dagster instance.")
    config_dir: Path = Field(description="Folder of phase YAML files.")
    model: str = Field(default="offline", description="Default model, 'provider:model' or 'offline'.")
    model_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio)."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the IdeaMine database; None means SQLite under the home folder.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for heartbeats and the event stream; None: database only."
    )
    retention_days: float = Field(
        default=30, ge=0, description="Events, checkpoints and metrics older than this are cleaned up."
    )
    model_timeout_seconds: float = Field(
        default=300,
        gt=0,
        description="Seconds a model server has to answer one request before it is retried.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read IDEAMINE_HOME, IDEAMINE_CONFIG_DIR, IDEAMINE_MODEL, IDEAMINE_MODEL_BASE_URL,
        DATABASE_URL, REDIS_URL, IDEAMINE_RETENTION_DAYS and IDEAMINE_MODEL_TIMEOUT, with embedded
        defaults."""
        env = os.environ if env is None else env
        home = Path(env.get("IDEAMINE_HOME") or DEFAULT_HOME).expanduser().absolute()
        config_dir = Path(env.get("IDEAMINE_CONFIG_DIR") or _default_config_dir()).absolute()
        return cls(
            home=home,
            config_dir=config_dir,
            model=env.get("IDEAMINE_MODEL") or "offline",
            model_base_url=env.get("IDEAMINE_MODEL_BASE_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            retention_days=_number(env, "IDEAMINE_RETENTION_DAYS", 30),
            model_timeout_seconds=_positive(env, "IDEAMINE_MODEL_TIMEOUT", 300),
        )

    def as_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        env = {
            "IDEAMINE_HOME": str(self.home),
            "IDEAMINE_CONFIG_DIR": str(self.config_dir),
            "IDEAMINE_MODEL": self.model,
            "IDEAMINE_RETENTION_DAYS": str(self.retention_days),
            "IDEAMINE_MODEL_TIMEOUT": str(self.model_timeout_seconds),
        }
        optional = {
            "IDEAMINE_MODEL_BASE_URL": self.model_base_url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }
        return env | {k: v for k, v in optional.items() if v}

    @property
    def runs_dir(self) -> Path:
        """Folder holding one sub-folder per run."""
        return self.home / "runs"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME of the embedded instance."""
        return self.home / "dagster"

    @property
    def embedded_database(self) -> bool:
        """True when no DATABASE_URL is set and the SQLite file under the home folder is used."""
        return self.database_url is None

    @property
    def db_url(self) -> str:
        """The database URL in use: DATABASE_URL, or the embedded SQLite file under the home folder."""
        return self.database_url or f"sqlite:///{self.home / 'ideamine.db'}"
