"""Launch a pipeline run for one idea on the embedded (or configured) Dagster instance."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef  # not re-exported by `dagster`

from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import StorageError, UserInputError
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunRecord, RunStore, atomic_write
from ideamine_dagster.definitions import DEFAULT_EXECUTOR, reconstructable_pipeline_job
from ideamine_dagster.jobs import phase_selection
from ideamine_dagster.partitions import IDEAS

EMBEDDED_INSTANCE_YAML = """\
# Embedded IdeaMine instance: SQLite storage in this folder. See dagster.yaml in the repo for PostgreSQL.
telemetry:
  enabled: false
"""

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance: DAGSTER_HOME if set, else the embedded one under the IdeaMine home."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            atomic_write(home / "dagster.yaml", EMBEDDED_INSTANCE_YAML)
    except OSError as exc:
        raise StorageError(
            f"cannot create the Dagster instance folder {home} ({exc.strerror})",
            fix="set IDEAMINE_HOME (or DAGSTER_HOME) to a writable folder",
        ) from exc
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def plan_phases(
    graph: PhaseGraph, store: RunStore, run_id: str | None, phases: list[str] | None
) -> list[str]:
    """Validate a phase selection; every dependency must be selected or already produced for the run."""
    selected = graph.select(phases) if phases else graph.order()
    missing = {
        phase: [d for d in deps if not (run_id and store.has_artifact(run_id, d))]
        for phase, deps in graph.missing_upstream(selected).items()
    }
    missing = {p: d for p, d in missing.items() if d}
    if missing:
        needs = "; ".join(f"{p} needs {', '.join(d)}" for p, d in sorted(missing.items()))
        add = sorted({d for deps in missing.values() for d in deps})
        raise UserInputError(
            f"the selected phases depend on phases this run has not produced ({needs})",
            fix=f"add them to --phases, e.g. --phases {','.join(add + selected)}",
        )
    return selected


def create_run(settings: Settings, submission: IdeaSubmission, phases: list[str]) -> RunRecord:
    """Record a new run (the submission is durable before anything executes)."""
    store = RunStore(settings.runs_dir)
    store.check_writable()
    return store.create(store.new_run_id(submission), submission, phases)


def execute_run(
    settings: Settings,
    instance: dg.DagsterInstance,
    record: RunRecord,
    executor: str = DEFAULT_EXECUTOR,
    simulated_latency_seconds: float = 0.0,
) -> tuple[str, bool]:
    """Execute the selected phases of `record` for its idea partition; returns (Dagster run id, success)."""
    instance.add_dynamic_partitions(IDEAS.name, [record.run_id])
    job = reconstructable_pipeline_job(settings, executor, simulated_latency_seconds)
    with dg.execute_job(
        job,
        instance=instance,
        asset_selection=phase_selection(record.phases),
        tags={"dagster/partition": record.run_id, "ideamine/run_id": record.run_id},
        run_config=QUIET_LOGGERS,
        raise_on_error=False,
    ) as result:
        outcome = (result.run_id, result.success)
    store = RunStore(settings.runs_dir)
    record.dagster_run_ids.append(outcome[0])
    store.save_run(record)
    return outcome
