"""The Kubernetes deployment in deploy/k8s is valid for the installed dagster-k8s.

The instance's run launcher config passes K8sRunLauncher's schema, the Helm values point the user
code deployment at our definitions module, and `IDEAMINE_EXECUTOR=k8s` builds the same job with the
k8s job executor (one pod per step).
"""

from __future__ import annotations

import yaml
from dagster._config import process_config
from support import REPO

from ideamine_core.settings import Settings
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.jobs import PIPELINE_JOB

DEPLOY = REPO / "deploy" / "k8s"


def test_instance_run_launcher_config_is_accepted(monkeypatch) -> None:
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres.utils import pg_config

    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://u:p@postgres:5432/dagster")
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    assert process_config(pg_config(), instance["storage"]["postgres"]).success
    env = yaml.safe_load((DEPLOY / "env.configmap.yaml").read_text())
    assert launcher["config"]["env_config_maps"] == [env["metadata"]["name"]]


def test_helm_values_serve_our_definitions() -> None:
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "ideamine_dagster.definitions"]
    assert {"name": "IDEAMINE_EXECUTOR", "value": "k8s"} in deployment["env"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["enabled"] is True


def test_the_pipeline_job_runs_steps_as_kubernetes_jobs(settings: Settings) -> None:
    job = build_definitions(settings, executor="k8s").resolve_job_def(PIPELINE_JOB)
    assert job.executor_def.name == "k8s"
    assert len({node.name for node in job.graph.node_defs}) == 13  # one graph per phase
