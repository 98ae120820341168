"""The ThreatModel agent on a real offline run: STRIDE threats for the architecture's own entities and a
finding that points at the generated API file when it lacks authentication."""

from __future__ import annotations

import json
from typing import Any

import cli_runs

from ideamine_core.agents.outputs.security import ThreatModelReport


def _output(phase: str, agent: str) -> dict[str, Any]:
    run = cli_runs.full_run()
    artifact = json.loads((run.runs / run.run_id / "artifacts" / f"{phase}.json").read_text())
    return next(r["output"] for r in artifact["results"] if r["agent"] == agent)


def test_threats_follow_the_architecture_and_name_the_unauthenticated_api() -> None:
    report = ThreatModelReport.model_validate(_output("security", "ThreatModel"))
    entities = [
        e["name"] for e in _output("architecture", "DataModeler")["entities"] if e["name"] != "Change"
    ]
    assert entities  # the data model the threats must follow
    tampered = [t.asset for t in report.threats if t.category == "tampering"]
    assert tampered == entities  # one tampering threat per stored entity, in the model's order
    assert len({t.id for t in report.threats}) == len(report.threats)
    assert {"spoofing", "denial_of_service", "elevation_of_privilege"} <= {t.category for t in report.threats}
    assert all(t.mitigation for t in report.threats)
    spoofing = next(t for t in report.threats if t.category == "spoofing")
    (finding,) = [f for f in report.findings if "authentication" in f.title]
    assert finding.location.endswith("/api.py") and spoofing.id in finding.detail
    assert report.counts[finding.severity] >= 1 and report.scanned_files > 0
