"""Environment → typed Settings with embedded defaults (read when called, never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_HOME = ".ideamine"


def _default_config_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "phase_configs"


class Settings(BaseModel):
    """Where IdeaMine keeps its state and which model it uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(description="Home folder: runs, artifacts and the embedded Dagster instance.")
    config_dir: Path = Field(description="Folder of phase YAML files.")
    model: str = Field(default="offline", description="Default model, 'provider:model' or 'offline'.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read IDEAMINE_HOME, IDEAMINE_CONFIG_DIR and IDEAMINE_MODEL, with embedded defaults."""
        env = os.environ if env is None else env
        home = Path(env.get("IDEAMINE_HOME") or DEFAULT_HOME).expanduser().absolute()
        config_dir = Path(env.get("IDEAMINE_CONFIG_DIR") or _default_config_dir()).absolute()
        return cls(home=home, config_dir=config_dir, model=env.get("IDEAMINE_MODEL") or "offline")

    def as_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        return {
            "IDEAMINE_HOME": str(self.home),
            "IDEAMINE_CONFIG_DIR": str(self.config_dir),
            "IDEAMINE_MODEL": self.model,
        }

    @property
    def runs_dir(self) -> Path:
        """Folder holding one sub-folder per run."""
        return self.home / "runs"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME of the embedded instance."""
        return self.home / "dagster"
