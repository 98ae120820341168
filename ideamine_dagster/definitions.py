"""build_definitions(settings) → dg.Definitions; `defs` for workspace.yaml, `get_pipeline_job` for runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from ideamine_core.errors import ConfigError
from ideamine_core.resilience.supervision import pass_interval
from ideamine_core.settings import Settings
from ideamine_dagster.executor import threadpool_executor
from ideamine_dagster.executor_names import DEFAULT_EXECUTOR, EXECUTORS
from ideamine_dagster.io_manager import ArtifactIOManager
from ideamine_dagster.jobs import PIPELINE_JOB, pipeline_job
from ideamine_dagster.maintenance import (
    daily_summary_job,
    retention_job,
    retention_schedule,
    summary_schedule,
)
from ideamine_dagster.origin_secrets import private_settings, public_settings_json
from ideamine_dagster.phase_assets import build_phase_assets
from ideamine_dagster.resources import IdeaMineResource, phase_graph
from ideamine_dagster.sensors import build_supervisor_sensor, idea_inbox_sensor, run_failure_sensor


def executor_for(name: str, max_concurrent: int = 8) -> dg.ExecutorDefinition:
    """The named local executor; multiprocess uses forkserver with our modules preloaded."""
    if name == "threadpool":
        return threadpool_executor.configured({"max_concurrent": max_concurrent})
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": max_concurrent,
                "start_method": {"forkserver": {"preload_modules": ["ideamine_dagster.definitions"]}},
            }
        )
    if name == "k8s":
        return _k8s_executor(max_concurrent)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)} or k8s")


K8S_STEP_CONFIG = {"env_config_maps": ["ideamine-env"], "env_secrets": ["ideamine-secrets"]}
"""Step pods get the same settings and secrets as the run pod (see deploy/k8s/)."""


def _k8s_executor(max_concurrent: int) -> dg.ExecutorDefinition:
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:  # the k8s extra is optional
        raise ConfigError(
            "IDEAMINE_EXECUTOR",
            "k8s",
            "the k8s executor needs dagster-k8s, which is not installed",
            "pip install 'ideamine[k8s]' (see deploy/k8s/)",
        ) from exc
    return k8s_job_executor.configured(K8S_STEP_CONFIG | {"max_concurrent": max_concurrent})


def build_definitions(
    settings: Settings,
    executor: str = DEFAULT_EXECUTOR,
    simulated_latency_seconds: float = 0.0,
    resources: Mapping[str, Any] | None = None,
) -> dg.Definitions:
    """The phase assets from `settings.config_dir`, the pipeline job and the resources (overridable)."""
    graph = phase_graph(str(settings.config_dir))
    home = str(settings.home)
    return dg.Definitions(
        assets=build_phase_assets(graph),
        jobs=[pipeline_job(), retention_job, daily_summary_job],
        sensors=[
            idea_inbox_sensor,
            run_failure_sensor,
            build_supervisor_sensor(pass_interval(graph.phases.values())),
        ],
        schedules=[retention_schedule, summary_schedule],
        resources={
            "ideamine": IdeaMineResource(
                home=home,
                config_dir=str(settings.config_dir),
                model=settings.model,
                simulated_latency_seconds=simulated_latency_seconds,
                model_base_url=settings.model_base_url,
                model_timeout_seconds=settings.model_timeout_seconds,
                retention_days=settings.retention_days,
                database_url=settings.database_url,
                redis_url=settings.redis_url,
            ),
            "artifact_io_manager": ArtifactIOManager(home=home),
        }
        | dict(resources or {}),
        executor=executor_for(executor),
    )


def _from_env() -> dg.Definitions:
    latency = float(os.environ.get("IDEAMINE_SIMULATED_LATENCY") or 0)
    executor = os.environ.get("IDEAMINE_EXECUTOR") or DEFAULT_EXECUTOR
    return build_definitions(Settings.from_env(), executor, latency)


def get_pipeline_job(settings_json: str, executor: str, simulated_latency_seconds: float) -> dg.JobDefinition:
    """The resolved pipeline job for explicit settings; step processes rebuild it from these arguments."""
    settings = private_settings(settings_json)
    return build_definitions(settings, executor, simulated_latency_seconds).resolve_job_def(PIPELINE_JOB)


def reconstructable_pipeline_job(
    settings: Settings, executor: str = DEFAULT_EXECUTOR, simulated_latency_seconds: float = 0.0
) -> dg.ReconstructableJob:
    """The pipeline job as a ReconstructableJob whose cache key includes the settings."""
    return dg.build_reconstructable_job(
        __name__,
        get_pipeline_job.__name__,
        reconstructable_kwargs={
            "settings_json": public_settings_json(settings),  # Dagster stores it: no passwords
            "executor": executor,
            "simulated_latency_seconds": simulated_latency_seconds,
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions for `dagster-webserver -w workspace.yaml`, from the environment when loaded."""
    return _from_env()
