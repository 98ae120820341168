"""The pipeline job and phase-subset selection."""

from __future__ import annotations

import dagster as dg

from ideamine_dagster.partitions import IDEAS

PIPELINE_JOB = "ideamine_pipeline"


def pipeline_job() -> dg.UnresolvedAssetJobDefinition:
    """All phase assets (and their gate checks) for one idea partition."""
    return dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.groups("ideamine"),
        partitions_def=IDEAS,
        description="Run the IdeaMine phases for one idea (a partition of `ideas`).",
    )


def phase_selection(phases: list[str]) -> list[dg.AssetKey]:
    """Asset keys for a partial run of `phases`."""
    return [dg.AssetKey(p) for p in phases]
