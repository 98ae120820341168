"""The phase YAML files are the graph: a new file adds an asset, an edited `depends_on` moves an edge.

No code changes between the two builds below: only files of the private config copy.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from pipeline_helpers import run_phases
from support import DEMO

from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.jobs import PIPELINE_JOB

NEW = "market_scan"


def _parents(defs: dg.Definitions) -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    return {
        key.path[-1]: {p.path[-1] for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()
    }


def _add_market_scan(config_dir: Path) -> None:
    """A copy of ideation.yaml as a new phase with two of its agents; critique now depends on it too."""
    data = yaml.safe_load((config_dir / "ideation.yaml").read_text())
    data |= {
        "phase": NEW,
        "description": "Scan the market: strategy and competitors only.",
        "depends_on": ["intake"],
        "parallelism": "parallel",
        "agents": [{"name": "Strategy"}, {"name": "Competitive"}],
    }
    (config_dir / f"{NEW}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    critique = yaml.safe_load((config_dir / "critique.yaml").read_text())
    critique["depends_on"] = ["ideation", NEW]
    (config_dir / "critique.yaml").write_text(yaml.safe_dump(critique, sort_keys=False))


def test_new_phase_yaml_and_edited_depends_on_change_the_asset_graph(settings: Settings) -> None:
    before = _parents(build_definitions(settings))
    assert NEW not in before and before["critique"] == {"ideation"}

    _add_market_scan(settings.config_dir)
    defs = build_definitions(settings)
    after = _parents(defs)

    assert set(after) == set(before) | {NEW}
    assert after[NEW] == {"intake"}
    assert after["critique"] == {"ideation", NEW}
    assert {p: d for p, d in after.items() if p not in (NEW, "critique")} == {
        p: d for p, d in before.items() if p != "critique"
    }
    graph = defs.resolve_asset_graph()
    assert dg.AssetCheckKey(dg.AssetKey(NEW), "gate") in graph.asset_check_keys
    job = defs.resolve_job_def(PIPELINE_JOB)
    assert {f"{NEW}__plan", f"{NEW}__agent", f"{NEW}__gate"} <= {
        n.definition.name for n in job.graph.node_dict[NEW].definition.nodes
    }


def test_the_new_phase_materializes_fed_by_its_dependency(settings: Settings, instance) -> None:
    _add_market_scan(settings.config_dir)
    run_id, result = run_phases(settings, instance, DEMO, phases=["intake", NEW])
    assert result.success
    assert dg.AssetKey(NEW) in {
        e.asset_key for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    agent_steps = {
        e.step_key for e in result.all_events if e.is_step_success and f"{NEW}__agent[" in (e.step_key or "")
    }
    assert agent_steps == {f"{NEW}.{NEW}__agent[strategy]", f"{NEW}.{NEW}__agent[competitive]"}
    store = RunStore(settings.runs_dir)
    artifact = store.load_artifact(run_id, NEW)
    assert artifact.gate is not None and artifact.gate.passed
    assert sorted(r.agent for r in artifact.results) == ["Competitive", "Strategy"]
    intake_hash = store.load_artifact(run_id, "intake").hash()
    for r in artifact.results:
        assert r.phase == NEW and r.provenance.provider == "offline"
        assert {k for k in r.provenance.inputs if k.startswith("phase:")} == {"phase:intake"}
        assert r.provenance.inputs["phase:intake"] == intake_hash
    record = store.load_phase(run_id, NEW)
    assert record is not None and record.status == "passed" and record.artifacts == 2
