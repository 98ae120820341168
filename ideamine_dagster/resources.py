"""Resources: thin typed wrappers that build the core services for a step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ideamine_core.agents.registry import agent_names, get_agent
from ideamine_core.config.graph import PhaseGraph
from ideamine_core.config.loader import cached_phase_graph
from ideamine_core.errors import IdeaMineError
from ideamine_core.phase.service import PhaseService
from ideamine_core.providers.base import Provider
from ideamine_core.providers.caller import ModelCaller
from ideamine_core.providers.factory import build_caller
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore

SECRET = {"dagster__is_secret": True}
"""Marks a resource field as secret: the Dagster UI shows a mask instead of its value."""


def phase_graph(config_dir: str) -> PhaseGraph:
    """The validated phase graph of `config_dir`, re-read whenever a YAML file changes."""
    return cached_phase_graph(config_dir, agent_names())


class IdeaMineResource(dg.ConfigurableResource):
    """The run folder, the phase graph and the model provider, as one phase service."""

    home: str = Field(description="IdeaMine home folder (runs and artifacts live under it).")
    config_dir: str = Field(description="Folder of phase YAML files.")
    model: str = Field(default="offline", description="Default model, e.g. 'offline'.")
    simulated_latency_seconds: float = Field(
        default=0.0, description="Benchmarks only: sleep this long in every offline agent call."
    )
    model_base_url: str | None = Field(default=None, description="OpenAI-compatible server base URL.")
    model_timeout_seconds: float = Field(default=300, description="Seconds per model request.")
    retention_days: float = Field(default=30, description="Events, checkpoints and metrics kept this long.")
    # URLs may hold passwords: secret fields, which the Dagster UI masks
    database_url: str | None = Field(
        default=None, description="IdeaMine database; None: SQLite in home.", json_schema_extra=SECRET
    )
    redis_url: str | None = Field(
        default=None, description="Redis for heartbeats and event streams.", json_schema_extra=SECRET
    )

    def settings(self) -> Settings:
        """These fields as core Settings."""
        return Settings(
            home=Path(self.home),
            config_dir=Path(self.config_dir),
            model=self.model,
            model_base_url=self.model_base_url,
            database_url=self.database_url,
            redis_url=self.redis_url,
            model_timeout_seconds=self.model_timeout_seconds,
            retention_days=self.retention_days,
        )

    def store(self) -> RunStore:
        """The run store under the home folder."""
        return RunStore(Path(self.home) / "runs")

    def provider(self) -> Provider:
        """The offline output generator: what the `offline` model answers with (tests may override it)."""
        return OfflineProvider(latency_seconds=self.simulated_latency_seconds)

    def caller(self) -> ModelCaller:
        """The model caller: default ladder, base URL and response cache from these settings."""
        return build_caller(self.settings(), offline=self.provider())

    def runtime(self) -> Runtime:
        """The core services of these settings in this process (database, ledger, heartbeats, …)."""
        try:
            return Runtime.of(self.settings())
        except IdeaMineError as exc:
            raise dg.Failure(exc.explain(), allow_retries=False) from exc

    def service(self) -> PhaseService:
        """A phase service on this process's runtime, with this resource's offline generator."""
        return PhaseService(phase_graph(self.config_dir), self.runtime(), self.provider(), get_agent)
