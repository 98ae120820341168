"""Artifact IO manager: phase artifacts as JSON + Markdown in the run folder, hash as metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ideamine_core.domain.artifact import PhaseArtifact
from ideamine_core.storage.markdown import render_artifact
from ideamine_core.storage.run_store import RunStore


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Stores each phase asset under `<home>/runs/<idea>/artifacts/<phase>.{json,md}`."""

    home: str = Field(description="IdeaMine home folder.")

    def _store(self) -> RunStore:
        return RunStore(Path(self.home) / "runs")

    def handle_output(self, context: dg.OutputContext, obj: PhaseArtifact) -> None:
        """Write the artifact and attach its content hash and path."""
        path = self._store().save_artifact(context.asset_partition_key, obj, render_artifact(obj))
        context.add_output_metadata(
            {
                "content_hash": obj.hash(),
                "path": dg.MetadataValue.path(str(path)),
                "markdown": dg.MetadataValue.path(str(path.with_suffix(".md"))),
                "agents": len({r.agent for r in obj.results}),
                "provider": ", ".join(sorted({r.provenance.provider for r in obj.results})),
            }
        )

    def load_input(self, context: dg.InputContext) -> PhaseArtifact:
        """Read the upstream phase's artifact for this idea."""
        phase = context.asset_key.path[-1]
        return self._store().load_artifact(context.asset_partition_key, phase)
