"""Helpers to run phases in-process on a temporary instance, as the CLI would."""

from __future__ import annotations

import dagster as dg

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.jobs import PIPELINE_JOB
from ideamine_dagster.launcher import create_run, execute_run
from ideamine_dagster.partitions import IDEAS


def run_phases(
    settings: Settings,
    instance: dg.DagsterInstance,
    submission: IdeaSubmission,
    phases: list[str] | None = None,
    run_id: str | None = None,
    resources: dict | None = None,
) -> tuple[str, dg.ExecuteInProcessResult]:
    """Create (or reuse) a run and execute `phases` (default all) with the in-process executor."""
    store = RunStore(settings.runs_dir)
    defs = build_definitions(settings, executor="in_process", resources=resources)
    job = defs.resolve_job_def(PIPELINE_JOB)
    all_phases = [key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()]
    selected = phases or all_phases
    if run_id is None:
        run_id = store.new_run_id(submission)
        store.create(run_id, submission, selected)
    instance.add_dynamic_partitions(IDEAS.name, [run_id])
    result = job.execute_in_process(
        partition_key=run_id,
        instance=instance,
        asset_selection=[dg.AssetKey(p) for p in selected],
        raise_on_error=False,
    )
    return run_id, result


def run_on_model(
    settings: Settings,
    instance: dg.DagsterInstance,
    submission: IdeaSubmission,
    model: str,
    base_url: str,
    phases: list[str],
) -> tuple[Settings, str]:
    """Run `phases` as the CLI does, with `model` as the run's default at the OpenAI-compatible
    `base_url`; asserts the run succeeded. The settings used and the run id."""
    on_model = settings.model_copy(update={"model": model, "model_base_url": base_url})
    record = create_run(on_model, submission, phases)
    _, success = execute_run(on_model, instance, record, "in_process")
    assert success
    return on_model, record.run_id
