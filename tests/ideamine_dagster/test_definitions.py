"""Snapshot of the definitions graph: 13 phase assets, their deps, one blocking gate each, the job."""

from __future__ import annotations

import dagster as dg
import yaml
from support import REPO

from ideamine_core.settings import Settings
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.jobs import PIPELINE_JOB

EXPECTED_DEPS = {
    "intake": set(),
    "ideation": {"intake"},
    "critique": {"ideation"},
    "prd": {"critique"},
    "bizdev": {"prd"},
    "architecture": {"prd"},
    "build": {"architecture"},
    "security": {"build"},
    "story_loop": {"build"},
    "aesthetic": {"build"},
    "qa": {"security", "story_loop"},
    "release": {"qa", "aesthetic", "bizdev"},
    "beta": {"release"},
}


def test_definitions_snapshot(settings: Settings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    keys = {k.path[-1] for k in graph.get_all_asset_keys()}
    assert keys == set(EXPECTED_DEPS)
    for phase, deps in EXPECTED_DEPS.items():
        assert {k.path[-1] for k in graph.get(dg.AssetKey(phase)).parent_keys} == deps
    checks = list(graph.asset_check_keys)
    assert sorted(c.asset_key.path[-1] for c in checks) == sorted(EXPECTED_DEPS)
    assert {c.name for c in checks} == {"gate"}
    for spec in (s for a in defs.assets for s in a.check_specs):
        assert spec.blocking and spec.partitions_def is not None and spec.partitions_def.name == "ideas"
    job = defs.resolve_job_def(PIPELINE_JOB)
    assert job.partitions_def is not None and job.partitions_def.name == "ideas"


def test_module_level_defs_load_from_the_environment(monkeypatch, settings: Settings) -> None:
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    from ideamine_dagster import definitions

    loaded = definitions.defs()
    assert len(list(loaded.resolve_asset_graph().get_all_asset_keys())) == 13


def test_production_dagster_yaml_uses_postgres_keys_that_dagster_postgres_accepts(monkeypatch) -> None:
    from dagster._config import process_config
    from dagster_postgres.utils import pg_config

    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://u:p@127.0.0.1:5432/d")
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    postgres = config["storage"]["postgres"]
    result = process_config(pg_config(), postgres)
    assert result.success, result.errors
    assert result.value["postgres_url"] == "postgresql://u:p@127.0.0.1:5432/d"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True


def test_workspace_yaml_points_at_the_definitions_module() -> None:
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    assert target == {"module_name": "ideamine_dagster.definitions", "attribute": "defs"}
